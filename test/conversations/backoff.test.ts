import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../src/whatsapp/graph.js';
import { backoffMs } from '../../src/whatsapp/worker.js';

describe('retry delays', () => {
  it.each([
    [1, 1000, 2000],
    [2, 2000, 4000],
    [4, 8000, 16000],
  ])('attempt %i waits between %i and %i ms (base 2 s, half jitter)', (attempts, min, max) => {
    for (let i = 0; i < 50; i++) {
      const d = backoffMs(2000, attempts);
      expect(d).toBeGreaterThanOrEqual(min);
      expect(d).toBeLessThanOrEqual(max);
    }
  });

  it('never waits more than five minutes, however many attempts or whatever Meta asks', () => {
    expect(backoffMs(2000, 40)).toBeLessThanOrEqual(300_000);
    expect(backoffMs(20, 1, 86_400_000)).toBe(300_000);
  });

  it('honours a Retry-After longer than its own backoff', () => {
    expect(backoffMs(20, 1, 30_000)).toBe(30_000);
  });

  it.each([
    ['seconds', '120', 120_000],
    ['an HTTP date', new Date(1_000_000 + 5_000).toUTCString(), 5_000],
    ['garbage', 'soon', undefined],
    ['nothing', null, undefined],
  ])('reads Retry-After given as %s', (_, header, expected) => {
    expect(retryAfterMs(header, 1_000_000)).toBe(expected);
  });
});
