import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/log.js';
import { securityEventFrom } from '../audit/request.js';
import type { Config } from '../config.js';
import type { Counters } from '../infra/counters.js';
import { AppError } from './errors.js';

/** A limit a route declares in its config: which bucket, how many per window, keyed by whom. */
export interface RateLimitRule {
  bucket: string;
  max: (config: Config) => number;
  windowMs: (config: Config) => number;
  /** 'ip': the client address; 'credential': the signed-in user, else the address. */
  by: 'ip' | 'credential';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RateLimitRule;
  }
}

/** `/api/v1/auth/*`: RATE_LIMIT_AUTH_IP_MAX requests per client address per 15 minutes. */
export const AUTH_IP: RateLimitRule = {
  bucket: 'auth-ip',
  max: (c) => c.rateLimit.authIpMax,
  windowMs: () => 15 * 60 * 1000,
  by: 'ip',
};

const keyOf = (rule: RateLimitRule, request: FastifyRequest) => {
  if (rule.by === 'credential' && request.principal) return `user:${request.principal.userId}`;
  if (rule.by === 'credential' && request.apiKey) return `key:${request.apiKey.keyId}`;
  return `ip:${request.ip}`;
};

/**
 * Enforces each route's declared limit (after authentication, so a credential can be the
 * key) with IETF RateLimit-* headers, and Retry-After on 429. If the counter store is
 * unreachable the request is refused (503): a limit that silently stops counting is how
 * brute force gets through.
 */
export function registerRateLimits(
  app: FastifyInstance,
  counters: Counters,
  config: Config,
  audit: AuditLog,
) {
  app.addHook('onRequest', async (request, reply) => {
    const rule = request.routeOptions.config.rateLimit;
    if (!rule) return;
    const max = rule.max(config);
    let hit;
    try {
      hit = await counters.hit(`${rule.bucket}:${keyOf(rule, request)}`, rule.windowMs(config));
    } catch (err) {
      request.log.error({ err }, 'rate-limit store unavailable');
      throw new AppError('unavailable', 'Rate limiting is unavailable; try again shortly');
    }
    const reset = String(Math.max(1, Math.ceil(hit.resetMs / 1000)));
    reply.headers({
      'ratelimit-limit': String(max),
      'ratelimit-remaining': String(Math.max(0, max - hit.count)),
      'ratelimit-reset': reset,
    });
    if (hit.count === max + 1) {
      // Sampled: the first refusal of a window is recorded, not every one of a flood.
      await audit
        .securityEvent(
          securityEventFrom(request, {
            type: 'rate_limited',
            orgId: request.principal?.orgId ?? request.apiKey?.orgId ?? null,
            metadata: { bucket: rule.bucket },
          }),
        )
        .catch((err: unknown) => request.log.warn({ err }, 'security event not recorded'));
    }
    if (hit.count > max) {
      throw new AppError('rate_limited', undefined, undefined, undefined, { 'retry-after': reset });
    }
  });
}
