import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { AppError } from './errors.js';

export type TrustProxy = (addr: string, hop: number) => boolean;

/**
 * TRUST_PROXY: a hop count, `true`, or a list of proxy addresses / CIDRs. The one reading
 * of it, for Fastify (request.ip, request.protocol) and for the https redirect alike, so
 * both agree on whose X-Forwarded-* headers count. A hop count trusts whoever connects, so
 * it suits only an instance no client can reach except through the proxy.
 */
export function trustProxy(value: string | undefined): false | TrustProxy {
  if (value === undefined) return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return (_addr, hop) => hop < hops;
  }
  if (value === 'true') return () => true;
  return proxyAddr.compile(value.split(',').map((s) => s.trim()));
}

/**
 * Where a plain-http request is sent instead: always PUBLIC_URL's host over https. The
 * request's Host, X-Forwarded-Host and absolute-form target are the client's word, and a
 * 308 to a host the client names is an open redirect (a phishing link on our domain, a
 * poisoned cache). A PUBLIC_URL of http:// (development) gives its host name on the
 * default https port: its own port serves plain http.
 */
export function httpsOrigin(publicUrl: URL): string {
  return publicUrl.protocol === 'https:'
    ? `https://${publicUrl.host}`
    : `https://${publicUrl.hostname}`;
}

/**
 * The path and query of the request, and nothing that could name another host: an
 * absolute-form target keeps only its path, and leading slashes or backslashes collapse to
 * one (`//evil.example` and `/\evil.example` read as a host in a Location).
 */
export function httpsLocation(rawUrl: string, origin: string): string {
  let target = rawUrl;
  if (!target.startsWith('/')) {
    const parsed = URL.canParse(target) ? new URL(target) : null;
    target = parsed ? `${parsed.pathname}${parsed.search}` : '/';
  }
  const location = new URL(`/${target.replace(/^[/\\]+/, '')}`, origin);
  return location.origin === origin ? location.href : `${origin}/`;
}

/**
 * In production behind a trusted proxy, a request the proxy received over plain http is
 * sent to https with 308 (method and body kept), before anything else reads the request,
 * so credentials are not used over cleartext twice. X-Forwarded-Proto counts only from a
 * peer TRUST_PROXY trusts (from anyone else it is the client's own word), and a request
 * without it (a health probe straight to the instance) is not redirected.
 */
export function registerHttpsRedirect(app: FastifyInstance, config: Config): void {
  const trusted = trustProxy(config.trustProxy);
  if (config.env !== 'production' || !trusted) return;
  const origin = httpsOrigin(new URL(config.publicUrl));
  app.addHook('onRequest', (request, reply, done) => {
    const peer = request.socket.remoteAddress;
    if (
      request.headers['x-forwarded-proto'] === undefined ||
      peer === undefined ||
      !trusted(peer, 0) ||
      request.protocol !== 'http'
    ) {
      done();
      return;
    }
    void reply.redirect(httpsLocation(request.raw.url ?? '/', origin), 308);
  });
}

const ECHO_METHODS = new Set(['TRACE', 'TRACK']);

/**
 * TRACE (and IIS's TRACK) echo the request back, cookies and Authorization included:
 * the old cross-site tracing trick for reading HttpOnly cookies. Never echoed: 405.
 */
export function refuseTrace(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (!ECHO_METHODS.has(request.method)) {
      done();
      return;
    }
    reply.header('allow', 'GET, HEAD, POST, PUT, PATCH, DELETE');
    done(new AppError('method_not_allowed', `${request.method} is not supported`));
  });
}
