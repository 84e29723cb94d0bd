import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string | Buffer) => createHash('sha256').update(value).digest();

/**
 * The one comparison of a presented secret (token, signature, code, verify token) with
 * the expected one. Both sides are hashed to 32 bytes first, so the time taken reveals
 * neither where they differ nor how long the expected value is; strings compare as UTF-8.
 */
export function secretEquals(presented: string | Buffer, expected: string | Buffer): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}
