import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The API answers with data, never with documents: if a response is ever rendered (a
 * sniffed upload, an error page opened directly), nothing in it may load, run or be framed.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * HTML pages (the console, /docs): scripts only from our own origin, so an injected
 * `<script>` or `onclick=` does not run; no plugins, no `<base>` hijack, no framing
 * (clickjacking). Images may be data: URLs (swagger-ui's stylesheet embeds its icons).
 * swagger-ui runs under it unchanged: it has no inline script, and the one inline style
 * attribute it sets is refused without visible effect (checked in Chromium).
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** CONTRACT section 4: sent on every response, errors and 404s included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': API_CSP,
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // API answers hold tenant data: no browser or shared cache may keep one unless a route
  // says otherwise (the docs' static files do).
  'cache-control': 'no-store',
};

/** Adds Origin to Vary, keeping whatever else a response already varies on. */
export function varyOnOrigin(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  if (current === undefined) {
    reply.header('vary', 'Origin');
    return;
  }
  const value = Array.isArray(current) ? current.join(', ') : String(current);
  if (!/(^|,)\s*(origin|\*)\s*(,|$)/i.test(value)) reply.header('vary', `${value}, Origin`);
}

/**
 * Set first, in the earliest hook, so every later answer (a 401 from the guard, a 413 from
 * the body parser, a 500 from the error handler, a 404) goes out with them. Vary: Origin
 * too: CORS answers differ by origin, and a cache must not hand one origin's to another.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    varyOnOrigin(reply);
    done();
  });
}

type FrameworkErrorHandler = (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) => void;

/**
 * Router errors (a broken %-escape, an over-long parameter) are answered before any hook
 * runs, so they get the headers here.
 */
export function withSecurityHeaders(handler: FrameworkErrorHandler): FrameworkErrorHandler {
  return (error, request, reply) => {
    reply.headers(SECURITY_HEADERS);
    varyOnOrigin(reply);
    handler(error, request, reply);
  };
}
