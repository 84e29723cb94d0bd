import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { ServerOptions } from 'node:http';
import { AppError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never shed under load (liveness, readiness and metrics must answer then). */
    shed?: boolean;
  }
}

/** Limits against slow, stalled and too many clients, and when to shed load. */
export interface EdgeLimits {
  /** A client must send all of its request headers within this (slowloris). */
  headersTimeoutMs: number;
  /** ... and its whole request, body included, within this (slow bodies). */
  requestTimeoutMs: number;
  /** A socket that sends nothing at all is closed after this. */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often Node enforces the header and request timeouts (its default is 30 s late). */
  timeoutCheckIntervalMs: number;
  /** Connections held open at once; more are dropped on accept. */
  maxConnections: number;
  /** Mean event-loop delay (ms) beyond which requests are shed with 503; 0: never. */
  maxEventLoopDelayMs: number;
  /** The window that mean is taken over. */
  sampleIntervalMs: number;
  /** Seconds a shed client is told to wait (Retry-After). */
  retryAfterSeconds: number;
}

export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 10_000,
  timeoutCheckIntervalMs: 1_000,
  maxConnections: 4_096,
  maxEventLoopDelayMs: 1_000,
  sampleIntervalMs: 1_000,
  retryAfterSeconds: 10,
};

/** The Fastify constructor options that carry the timeouts. */
export function serverTimeouts(limits: EdgeLimits) {
  const http: ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
  };
  return {
    http,
    connectionTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
}

/** Lag must last this many sample windows before anything is shed. */
const SUSTAINED_SAMPLES = 3;

/**
 * Caps connections and sheds load: while the event loop lags, every request would wait
 * behind the backlog anyway, so new ones get a fast 503 `unavailable` with Retry-After
 * instead of timing out and being retried into a worse backlog. Only sustained lag counts:
 * one long pause (the embedded database blocks the loop for a second or two on a heavy
 * statement) makes a single window look overloaded and would shed healthy traffic.
 * Routes that declare `shed: false` (/health, /ready, /metrics) still answer. Register it
 * at the end of the edge tier, so a shed answer carries the request id and edge headers.
 */
export async function registerEdgeLimits(app: FastifyInstance, limits: EdgeLimits) {
  app.server.maxConnections = limits.maxConnections;
  let lastWarned = 0;
  let laggingSince: number | null = null;
  const sustainedMs = SUSTAINED_SAMPLES * limits.sampleIntervalMs;
  await app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    sampleInterval: limits.sampleIntervalMs,
    retryAfter: limits.retryAfterSeconds,
    pressureHandler: async (request, _reply, type, value) => {
      if (request.routeOptions.config.shed === false) return;
      if (laggingSince === null || Date.now() - laggingSince < sustainedMs) return;
      // One line per sample window: logging every shed request would add to the load.
      if (Date.now() - lastWarned > limits.sampleIntervalMs) {
        lastWarned = Date.now();
        request.log.warn({ type, value }, 'under pressure: shedding requests');
      }
      const retryAfter = { 'retry-after': String(limits.retryAfterSeconds) };
      throw new AppError('unavailable', 'Overloaded; try again shortly', { headers: retryAfter });
    },
  });
  if (limits.maxEventLoopDelayMs <= 0) return;
  const watch = setInterval(
    () => (laggingSince = app.isUnderPressure() ? (laggingSince ?? Date.now()) : null),
    Math.max(10, limits.sampleIntervalMs / 2),
  );
  watch.unref();
  app.addHook('onClose', async () => clearInterval(watch));
}
