import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/log.js';
import { recordRefusal } from '../audit/request.js';
import type { Authenticator } from '../auth/authenticate.js';
import type { Config } from '../config.js';
import { AddressBlocks, addressKey } from './addresses.js';
import { AppError, rateLimited, secondsUntil } from './errors.js';
import type { LimitStore } from './limit-store.js';

/** A limit a route declares in its config: which bucket, how many per window, keyed by whom. */
export interface RateLimitRule {
  bucket: string;
  max: (config: Config) => number;
  windowMs: (config: Config) => number;
  /**
   * 'ip': the client address; 'credential': the signed-in user or API key, else the
   * address; 'user': as 'credential', but an API key counts against the member who made
   * it, so minting more keys does not multiply a per-user limit.
   */
  by: 'ip' | 'credential' | 'user';
  /** While Redis is down, refuse (503) instead of counting per instance: sign-in defences. */
  failClosed?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A limit of this route, counted in addition to GENERAL (which every route has). */
    rateLimit?: RateLimitRule;
  }
}

/** RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS: every /api/v1 request, per user, API key or address. */
export const GENERAL: RateLimitRule = {
  bucket: 'api',
  max: (c) => c.rateLimit.max,
  windowMs: (c) => c.rateLimit.windowMs,
  by: 'credential',
};

/** `/api/v1/auth/*`: RATE_LIMIT_AUTH_IP_MAX requests per client address per 15 minutes. */
export const AUTH_IP: RateLimitRule = {
  bucket: 'auth-ip',
  max: (c) => c.rateLimit.authIpMax,
  windowMs: () => 15 * 60 * 1000,
  by: 'ip',
  failClosed: true,
};

/**
 * `/webhooks/*`: RATE_LIMIT_AUTH_IP_MAX refused requests per client address per 15 minutes
 * (its own budget, so failed webhooks never lock anyone out of signing in). Counted per
 * instance while Redis is down: a provider's deliveries must keep flowing.
 */
export const WEBHOOK_IP: RateLimitRule = {
  bucket: 'webhook-ip',
  max: (c) => c.rateLimit.authIpMax,
  windowMs: () => 15 * 60 * 1000,
  by: 'ip',
};

/** RATE_LIMIT_SEND_MAX messages sent per minute, per user (their API keys included). */
export const SEND: RateLimitRule = {
  bucket: 'send',
  max: (c) => c.rateLimit.sendMax,
  windowMs: () => 60 * 1000,
  by: 'user',
};

/** RATE_LIMIT_UPLOAD_MAX uploads per minute, per user (their API keys included). */
export const UPLOAD: RateLimitRule = {
  bucket: 'upload',
  max: (c) => c.rateLimit.uploadMax,
  windowMs: () => 60 * 1000,
  by: 'user',
};

export interface RateLimitDeps {
  store: LimitStore;
  config: Config;
  audit: AuditLog;
  /** Whose live session a request carries: the one credential an exhausted address keeps. */
  authenticator: Authenticator;
}

const clientOf = (rule: RateLimitRule, request: FastifyRequest) => {
  if (rule.by === 'ip') return `ip:${addressKey(request.ip)}`;
  if (request.principal) return `user:${request.principal.userId}`;
  const key = request.apiKey;
  if (rule.by === 'user' && key?.createdBy) return `user:${key.createdBy}`;
  if (key) return `key:${key.keyId}`;
  return `ip:${addressKey(request.ip)}`;
};

function limitHeaders(reply: FastifyReply, max: number, remaining: number, resetMs: number) {
  reply.headers({
    'ratelimit-limit': String(max),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': String(secondsUntil(resetMs)),
  });
}

/**
 * Every /api/v1 request counts under GENERAL, keyed by its credential once the guard has
 * verified one (an authenticated request counts against its credential only), else by
 * its address; a route's declared rule counts in addition (the /auth routes' AUTH_IP).
 * Register it BEFORE the auth guard: it adds a check ahead of the guard and counts in
 * preParsing, which runs after every onRequest hook (the guard's) and before the body is
 * read. Responses carry IETF RateLimit-* headers for the tightest rule; 429s Retry-After.
 */
export function registerRateLimits(app: FastifyInstance, deps: RateLimitDeps): void {
  const { store, config } = deps;
  const blocks = new AddressBlocks();
  const counted = new WeakSet<FastifyRequest>();

  // A flood of made-up credentials would cost a lookup each (API keys: a database query);
  // an address that has spent its unauthenticated budget is turned away before the guard
  // looks. Only a live session still passes (it counts against its own user); a revoked
  // one is remembered as dead, so a flood of those costs no lookups either.
  app.addHook('onRequest', async (request, reply) => {
    const address = addressKey(request.ip);
    const blocked = blocks.check(address);
    if (!blocked || (await deps.authenticator.sessionUser(request)) !== null) return;
    limitHeaders(reply, GENERAL.max(config), 0, blocked.remainingMs);
    if (blocked.first) await rateLimitedEvent(request, deps, GENERAL.bucket);
    throw rateLimited(blocked.remainingMs);
  });

  app.addHook('preParsing', async (request, reply) => {
    counted.add(request);
    const declared = request.routeOptions.config.rateLimit;
    const rules = declared ? [GENERAL, declared] : [GENERAL];
    const counts = await Promise.all(
      rules.map(async (rule) => {
        const counters = rule.failClosed ? store.failClosed : store.resilient;
        const hit = await counters.hit(
          `${rule.bucket}:${clientOf(rule, request)}`,
          rule.windowMs(config),
        );
        return { rule, max: rule.max(config), ...hit };
      }),
    );
    const general = counts[0]!;
    if (!request.principal && !request.apiKey && general.count >= general.max) {
      blocks.add(addressKey(request.ip), general.resetMs);
    }
    const over = counts.filter((c) => c.count > c.max);
    const tightest = counts.reduce((a, b) => (b.max - b.count < a.max - a.count ? b : a));
    if (over.length === 0) {
      limitHeaders(reply, tightest.max, tightest.max - tightest.count, tightest.resetMs);
      return;
    }
    const resetMs = Math.max(...over.map((c) => c.resetMs));
    limitHeaders(reply, tightest.max, 0, resetMs);
    // Sampled: the first refusal of a window is recorded, not every one of a flood.
    for (const c of over)
      if (c.count === c.max + 1) await rateLimitedEvent(request, deps, c.rule.bucket);
    throw rateLimited(resetMs);
  });

  // What the guard refused as unauthenticated never reached the count above: it counts
  // against its address, so guessing credentials spends the same budget as anything else.
  // (onError runs before the refusal is sent, so the next request already sees the count.)
  app.addHook('onError', async (request, _reply, error) => {
    if (counted.has(request) || !(error instanceof AppError) || error.status !== 401) return;
    const address = addressKey(request.ip);
    const hit = await store.resilient
      .hit(`${GENERAL.bucket}:ip:${address}`, GENERAL.windowMs(config))
      .catch((err: unknown) => request.log.warn({ err }, 'refused request not counted'));
    if (hit && hit.count >= GENERAL.max(config)) blocks.add(address, hit.resetMs);
  });
}

async function rateLimitedEvent(
  request: FastifyRequest,
  deps: Pick<RateLimitDeps, 'audit'>,
  bucket: string,
) {
  await recordRefusal(deps.audit, request, {
    type: 'rate_limited',
    orgId: request.principal?.orgId ?? request.apiKey?.orgId ?? null,
    metadata: { bucket },
  });
}

/**
 * For routes whose callers prove who they are inside the body (webhook signatures, checked
 * over the raw bytes): every answer other than a 2xx counts against the caller's address,
 * and an address over its budget is refused before its body is read, so a flood of wrong
 * verify tokens or unsigned 3 MiB bodies stops costing reads and HMACs. A delivery that
 * passed its signature check (2xx) costs nothing: a provider is never throttled by its
 * own traffic.
 */
export function registerFailureLimit(
  app: FastifyInstance,
  deps: Omit<RateLimitDeps, 'authenticator'>,
): void {
  const { store, config } = deps;
  const blocks = new Map<string, AddressBlocks>();
  const blocksOf = (rule: RateLimitRule) => {
    let found = blocks.get(rule.bucket);
    if (!found) blocks.set(rule.bucket, (found = new AddressBlocks()));
    return found;
  };

  app.addHook('onRequest', async (request, reply) => {
    const rule = request.routeOptions.config.rateLimit;
    if (!rule) return;
    const blocked = blocksOf(rule).check(addressKey(request.ip));
    if (!blocked) return;
    limitHeaders(reply, rule.max(config), 0, blocked.remainingMs);
    if (blocked.first) await rateLimitedEvent(request, deps, rule.bucket);
    throw rateLimited(blocked.remainingMs);
  });

  // onSend, not onResponse: the count is in before the client can send its next request.
  app.addHook('onSend', async (request, reply) => {
    const rule = request.routeOptions.config.rateLimit;
    const status = reply.statusCode;
    if (!rule || (status >= 200 && status < 300) || status === 429) return;
    const address = addressKey(request.ip);
    const counters = rule.failClosed ? store.failClosed : store.resilient;
    const hit = await counters
      .hit(`${rule.bucket}:ip:${address}`, rule.windowMs(config))
      .catch((err: unknown) => request.log.warn({ err }, 'refused request not counted'));
    if (!hit) return;
    const max = rule.max(config);
    limitHeaders(reply, max, max - hit.count, hit.resetMs);
    if (hit.count >= max) blocksOf(rule).add(address, hit.resetMs);
  });
}
