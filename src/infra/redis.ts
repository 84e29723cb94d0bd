import { Redis as IORedis } from 'ioredis';

export type Redis = IORedis;

/**
 * The shared Redis connection. Commands fail fast while it is down (no offline queue, and
 * a command timeout for a Redis that accepts but never answers), so a request never hangs
 * waiting for it; ioredis reconnects by itself, forever, with a capped back-off.
 *
 * At start `connect()` is awaited and a configured Redis that does not answer stops the
 * process, as the database does: a mistyped REDIS_URL must fail the deployment, not run on
 * per-instance counters unnoticed. After start an outage degrades instead (see
 * src/security/limit-store.ts) and heals when Redis answers again.
 */
export function createRedis(url: string): Redis {
  const redis = new IORedis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Outages surface where they matter (the limiter's log lines, /ready), not as ioredis's
  // "unhandled error event" printed to stderr on every reconnection attempt.
  redis.on('error', () => {});
  return redis;
}

/** Why Redis at `url` did not answer, naming where it was looked for but never a password. */
export function describeRedisFailure(url: string, err: unknown): string {
  let where = 'an unparsable address';
  try {
    const u = new URL(url);
    where = `${u.protocol}//${u.hostname}:${u.port || '6379'}`;
  } catch {
    // keep the placeholder: the URL may hold a password, never echo it raw
  }
  const code = (err as { code?: unknown }).code;
  const why = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return `cannot connect to Redis at ${where} (${why}); start Redis there, correct REDIS_URL, or unset it to run with in-memory stores`;
}
