import type { Redis } from './redis.js';

export interface Hit {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/**
 * Fixed-window counters, shared by every instance when Redis is configured (one atomic
 * INCR + PEXPIRE per hit), else per process. Keys are namespaced by the caller.
 */
export interface Counters {
  hit(key: string, windowMs: number): Promise<Hit>;
  peek(key: string): Promise<Hit>;
  reset(key: string): Promise<void>;
}

const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

export function redisCounters(redis: Redis, prefix = 'bastion:rl:'): Counters {
  return {
    async hit(key, windowMs) {
      const [count, resetMs] = (await redis.eval(HIT_SCRIPT, 1, prefix + key, windowMs)) as [
        number,
        number,
      ];
      return { count, resetMs };
    },
    async peek(key) {
      const [value, ttl] = await Promise.all([redis.get(prefix + key), redis.pttl(prefix + key)]);
      return { count: Number(value ?? 0), resetMs: Math.max(ttl, 0) };
    },
    async reset(key) {
      await redis.del(prefix + key);
    },
  };
}

/**
 * Counts in `shared` while it answers and in `local` while it does not: during a Redis
 * outage each instance keeps its own windows (a client may get up to N times its budget
 * across N instances) rather than refusing every request. Counting returns to `shared`
 * by itself on the first call that succeeds; `onSwitch` hears each change of side.
 */
export function fallbackCounters(
  shared: Counters,
  local: Counters,
  onSwitch: (degraded: boolean, err?: unknown) => void,
): Counters {
  let degraded = false;
  const attempt = async <T>(op: (c: Counters) => Promise<T>): Promise<T> => {
    try {
      const result = await op(shared);
      if (degraded) {
        degraded = false;
        onSwitch(false);
      }
      return result;
    } catch (err) {
      if (!degraded) {
        degraded = true;
        onSwitch(true, err);
      }
      return op(local);
    }
  };
  return {
    hit: (key, windowMs) => attempt((c) => c.hit(key, windowMs)),
    peek: (key) => attempt((c) => c.peek(key)),
    reset: (key) => attempt((c) => c.reset(key)),
  };
}

export function memoryCounters(now: () => number = Date.now): Counters {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const current = (key: string) => {
    const w = windows.get(key);
    if (w && w.resetAt > now()) return w;
    windows.delete(key);
    return undefined;
  };
  const sweep = setInterval(() => {
    for (const [key, w] of windows) if (w.resetAt <= now()) windows.delete(key);
  }, 60_000);
  sweep.unref();
  return {
    async hit(key, windowMs) {
      const w = current(key) ?? { count: 0, resetAt: now() + windowMs };
      w.count++;
      windows.set(key, w);
      return { count: w.count, resetMs: w.resetAt - now() };
    },
    async peek(key) {
      const w = current(key);
      return { count: w?.count ?? 0, resetMs: w ? w.resetAt - now() : 0 };
    },
    async reset(key) {
      windows.delete(key);
    },
  };
}
