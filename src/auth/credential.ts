import type { FastifyRequest } from 'fastify';
import { API_KEY_PREFIX } from './api-keys.js';
import type { SessionCookies } from './cookies.js';

/** What a request presents as its credential, before anything is verified. */
export type Presented =
  | { kind: 'none' }
  /** An Authorization header that is not `Bearer <token>`: refused, never guessed at. */
  | { kind: 'malformed' }
  | { kind: 'api-key'; secret: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'cookie'; token: string };

/** RFC 6750 b64token; one space, exact case: anything looser is a second way to spell it. */
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/**
 * The token of an `Authorization: Bearer` header: undefined when there is no header, null
 * when there is one of any other shape. The only reader of that header (the guard, the
 * rate limiter, the realtime socket and /metrics all come here), so no two of them can
 * disagree about who sent a request.
 */
export function bearerToken(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  return BEARER.exec(header)?.[1] ?? null;
}

/**
 * The credential a request presents. A header wins over the cookie: a request that names
 * its credential explicitly is judged by that one alone, never by a cookie beside it.
 */
export function presentedCredential(request: FastifyRequest, cookies: SessionCookies): Presented {
  const header = bearerToken(request);
  if (header === null) return { kind: 'malformed' };
  if (header !== undefined) {
    return header.startsWith(API_KEY_PREFIX)
      ? { kind: 'api-key', secret: header }
      : { kind: 'bearer', token: header };
  }
  const cookie = cookies.accessToken(request);
  return cookie ? { kind: 'cookie', token: cookie } : { kind: 'none' };
}

/** Whether the request carries any of our session cookies (the refresh cookie included). */
export function carriesSessionCookie(request: FastifyRequest, cookies: SessionCookies): boolean {
  const { access, refresh, csrf } = cookies.names;
  return [access, refresh, csrf].some((name) => request.cookies[name] !== undefined);
}
