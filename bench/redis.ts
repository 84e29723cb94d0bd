/**
 * The rate limiter's Redis round trip: the counters' own Lua script (redisCounters().hit from
 * dist/, one EVAL per rule per request) over the server's own client settings (createRedis),
 * timed call by call, sequentially and with CONCURRENCY calls in flight.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type * as CountersModule from '../src/infra/counters.js';
import type * as RedisModule from '../src/infra/redis.js';

export const CALLS = 5000;
export const CONCURRENCY = 50;

export interface RoundTrip {
  mode: 'sequential' | 'concurrent';
  inFlight: number;
  calls: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const dist = async <T>(file: string): Promise<T> =>
  (await import(new URL(`../dist/${file}`, import.meta.url).href)) as T;

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

async function timed(
  mode: RoundTrip['mode'],
  inFlight: number,
  hit: () => Promise<unknown>,
): Promise<RoundTrip> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next++ < CALLS) {
      const t = performance.now();
      await hit();
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    mode,
    inFlight,
    calls: latencies.length,
    callsPerSec: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? NaN,
  };
}

/** Times the limiter's script against `url`; its keys live under their own prefix and go. */
export async function redisRoundTrip(url: string): Promise<RoundTrip[]> {
  const { redisCounters } = await dist<typeof CountersModule>('infra/counters.js');
  const { createRedis } = await dist<typeof RedisModule>('infra/redis.js');
  const redis = createRedis(url);
  await redis.connect();
  const prefix = `bastion:bench:${randomBytes(6).toString('hex')}:`;
  const counters = redisCounters(redis, prefix);
  // Like the general limit: one key per client, a 15-minute window, counted on each hit.
  const hit = (): Promise<unknown> => counters.hit('general:user:bench', 15 * 60_000);
  try {
    for (let i = 0; i < 200; i++) await hit(); // warm-up: connection, script cache
    return [await timed('sequential', 1, hit), await timed('concurrent', CONCURRENCY, hit)];
  } finally {
    await counters.reset('general:user:bench');
    await redis.quit();
  }
}
