import type { FastifyBaseLogger } from 'fastify';
import {
  fallbackCounters,
  memoryCounters,
  redisCounters,
  type Counters,
} from '../infra/counters.js';
import type { Redis } from '../infra/redis.js';
import { AppError } from './errors.js';

/**
 * Where rate-limit counters live, and what each kind of limit does while Redis is down.
 *
 * - `failClosed`: the sign-in defences (AUTH_IP, the per-email lockout). Counted per
 *   instance they would multiply a guesser's attempts by the number of instances, and a
 *   limit that silently stops counting is how brute force gets through: so they refuse
 *   with 503 `unavailable` until Redis answers again.
 * - `resilient`: the general and per-feature limits protect capacity, not secrets: each
 *   instance counts on its own meanwhile and keeps serving.
 *
 * Without REDIS_URL both are one in-memory store. With it, recovery needs nothing: ioredis
 * reconnects by itself and the next count goes to Redis again (its windows start afresh).
 */
export interface LimitStore {
  failClosed: Counters;
  resilient: Counters;
}

const RETRY_AFTER_SECONDS = '5';

export function limitStore(redis: Redis | null, log: FastifyBaseLogger): LimitStore {
  if (!redis) {
    const memory = memoryCounters();
    return { failClosed: memory, resilient: memory };
  }
  const shared = redisCounters(redis);
  let refusing = false;
  const guarded = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      const result = await op();
      refusing = false;
      return result;
    } catch (err) {
      if (!refusing) log.error({ err }, 'Redis unavailable: sign-in limits refuse requests (503)');
      refusing = true;
      throw new AppError('unavailable', 'Temporarily unavailable; try again shortly', {
        headers: { 'retry-after': RETRY_AFTER_SECONDS },
      });
    }
  };
  return {
    failClosed: {
      hit: (key, windowMs) => guarded(() => shared.hit(key, windowMs)),
      peek: (key) => guarded(() => shared.peek(key)),
      reset: (key) => guarded(() => shared.reset(key)),
    },
    resilient: fallbackCounters(shared, memoryCounters(), (degraded, err) => {
      if (degraded) log.warn({ err }, 'Redis unavailable: rate limits counted per instance');
      else log.info('Redis answers again: rate limits shared across instances');
    }),
  };
}
