import type { FastifyInstance } from 'fastify';

/** Meta's maximum webhook payload; applies to the webhook routes only (1 MiB elsewhere). */
export const WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024;

/**
 * Inside a webhook plugin: every body arrives as the exact bytes sent, whatever its
 * content type, so the signature is checked on those bytes before anything parses them.
 */
export function registerRawBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );
}

export function rawBodyOf(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}
