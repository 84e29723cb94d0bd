import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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
 * Where a plain-http request is sent instead: the server's own origin when PUBLIC_URL
 * names an https one (no client-chosen Host ends up in a Location a cache might keep),
 * else the host the request was addressed to, on the default https port.
 */
function httpsLocation(request: FastifyRequest, publicUrl: URL): string {
  const host = publicUrl.protocol === 'https:' ? publicUrl.host : request.hostname;
  return `https://${host}${request.url}`;
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
  const publicUrl = new URL(config.publicUrl);
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
    void reply.redirect(httpsLocation(request, publicUrl), 308);
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
