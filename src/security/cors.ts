import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import { varyOnOrigin } from './headers.js';

export const CORS_ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
export const CORS_ALLOW_HEADERS =
  'Authorization, Content-Type, X-CSRF-Token, X-Auth-Mode, X-Request-Id';
/** What a console script may read beyond the safelisted headers (limits, ids for support). */
export const CORS_EXPOSE_HEADERS =
  'X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After';
/** Short, so an origin removed from ALLOWED_ORIGINS loses access within minutes. */
export const CORS_MAX_AGE_SECONDS = 600;

const isPreflight = (request: FastifyRequest) =>
  request.method === 'OPTIONS' &&
  request.headers.origin !== undefined &&
  request.headers['access-control-request-method'] !== undefined;

/**
 * CORS from ALLOWED_ORIGINS only. Reflecting any Origin with credentials would let every
 * site on the web read a signed-in member's data, so a listed origin gets its own exact
 * value back (compared as a whole string: no prefix, suffix or pattern matching, so
 * `https://console.example.test.evil.com` is not `https://console.example.test`), and
 * everyone else, `null` included, gets no CORS header at all. A preflight from an origin
 * not listed is refused with a 403 problem, also without CORS headers.
 * `Vary: Origin` always, so a shared cache never serves one origin's answer to another.
 */
export function registerCors(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  const allowed = new Set(allowedOrigins);
  app.addHook('onRequest', (request, reply, done) => {
    varyOnOrigin(reply);
    const origin = request.headers.origin;
    const preflight = isPreflight(request);
    if (origin === undefined || !allowed.has(origin)) {
      if (preflight) {
        done(new AppError('forbidden', 'Cross-origin requests from this origin are not allowed'));
        return;
      }
      done();
      return;
    }
    reply.headers({
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
    });
    if (!preflight) {
      reply.header('access-control-expose-headers', CORS_EXPOSE_HEADERS);
      done();
      return;
    }
    void reply
      .headers({
        'access-control-allow-methods': CORS_ALLOW_METHODS,
        'access-control-allow-headers': CORS_ALLOW_HEADERS,
        'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
      })
      .code(204)
      .send();
  });
}
