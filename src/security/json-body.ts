import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { AppError } from './errors.js';

const POISONED = 'Object contains forbidden prototype property';

/**
 * The one JSON parser for anything a client or a provider sends: the API's bodies and the
 * webhooks' payloads. `__proto__` and `constructor.prototype` keys are refused outright
 * (prototype poisoning), as a validation failure rather than bad JSON; an empty body is
 * bad JSON. Throws AppError.
 */
export function parseStrictJson(input: string | Buffer): unknown {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.trim() === '') throw new AppError('invalid_json', 'The body is empty');
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    if (err instanceof SyntaxError && err.message === POISONED) {
      throw new AppError(
        'validation_failed',
        'The body contains a forbidden key (__proto__ or constructor.prototype)',
      );
    }
    throw new AppError('invalid_json');
  }
}

/** JSON is the only body the API parses. */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    // application/json or a +json type, with or without parameters such as charset.
    /^application\/(?:[a-z0-9.-]+\+)?json\s*(?:;.*)?$/i,
    { parseAs: 'string' },
    (_req, body, done) => {
      try {
        done(null, parseStrictJson(String(body)));
      } catch (err) {
        done(err as AppError);
      }
    },
  );
}
