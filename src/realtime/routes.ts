import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Socket } from 'node:net';
import { principalOf } from '../auth/guard.js';
import { AppError } from '../security/errors.js';
import { RealtimeHub } from './hub.js';

/** Clients only listen; anything larger than a small frame is refused by ws (close 1009). */
const MAX_CLIENT_FRAME_BYTES = 4 * 1024;
/** How long an upgrade request's socket may sit unanswered or unclosed before ws owns it. */
const UPGRADE_IDLE_MS = 10_000;

/**
 * Tier 1, before any hook that can refuse a request. Once anything listens for 'upgrade',
 * every request with `Connection: Upgrade` (to any path) leaves Node's HTTP handling: its
 * socket gets no HTTP timeouts and is never closed after a refusal, so unauthenticated
 * clients could pin sockets up to the connection cap. Registered first, the plugin marks
 * such requests before any hook runs and destroys their socket after any response; the
 * idle timeout covers requests refused before routing (ws clears it on a real upgrade).
 */
export async function registerWebsocket(app: FastifyInstance): Promise<void> {
  await app.register(websocket, {
    options: { maxPayload: MAX_CLIENT_FRAME_BYTES },
    // Going away (1001), not "no status": clients then know to reconnect elsewhere.
    preClose(done) {
      for (const client of this.websocketServer.clients) {
        client.close(1001, 'server shutting down');
      }
      this.websocketServer.close();
      done();
    },
  });
  // Ahead of the plugin's own listener, so ws's setTimeout(0) on a real upgrade comes after.
  app.server.prependListener('upgrade', (_request, socket) => {
    if (socket instanceof Socket) socket.setTimeout(UPGRADE_IDLE_MS, () => socket.destroy());
  });
}

/**
 * The guard lets a cookie request without Origin through (plain navigations and same-site
 * GETs omit it). A browser always sends Origin on a WebSocket handshake, and the
 * handshake is not covered by CORS or SameSite=Strict alone (cross-site WebSocket
 * hijacking): a cookie-authenticated upgrade must name one of our origins. The guard has
 * already refused a foreign one.
 */
async function requireOriginForCookie(request: FastifyRequest): Promise<void> {
  if (request.credential === 'cookie' && request.headers.origin === undefined) {
    throw new AppError('csrf_failed', 'A cookie-authenticated socket needs an allowed Origin');
  }
}

/**
 * CONTRACT section 8, inside the /api/v1 block so the auth guard and rate limits run
 * before the upgrade. Credentials: the access cookie (with an allowed Origin) or a bearer
 * access token. Never the query string, which ends up in logs and browser history: it is
 * not read at all. API keys are refused (the route names no scope, so the guard answers
 * 403 insufficient_scope): a key is a long-lived server credential, and servers receive
 * events through outbound webhooks instead.
 */
export const realtimeRoutes: FastifyPluginAsync = async (app) => {
  const { bus, db } = app.ctx;
  const hub = new RealtimeHub({ bus, db, log: app.log });
  await hub.start();
  app.addHook('preClose', () => hub.close());

  app.get(
    '/realtime',
    {
      websocket: true,
      config: { access: 'viewer' },
      onRequest: requireOriginForCookie,
      schema: { tags: ['realtime'], summary: 'Event socket of my organization' },
    },
    (socket, request) => {
      hub.add(socket, principalOf(request), request.claims?.expiresAt ?? 0);
    },
  );
};
