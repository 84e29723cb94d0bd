import { Redis as IORedis } from 'ioredis';

export type Redis = IORedis;

/**
 * The shared Redis connection. Commands fail fast while it is down (no offline queue),
 * so a request never hangs waiting for it; ioredis reconnects by itself.
 */
export function createRedis(url: string): Redis {
  return new IORedis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
}
