import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Counters } from '../infra/counters.js';
import { AppError } from '../security/errors.js';

const WINDOW_MS = 15 * 60 * 1000;

/**
 * Online guessing defence per account: after `RATE_LIMIT_LOGIN_FAILURES` failed sign-ins for
 * one email within 15 minutes, further attempts are refused (429) for the rest of the window
 * even with the right password, so a guesser learns nothing from a late success. Emails are
 * hashed in the key so the counter store holds no addresses.
 */
export class LoginLockout {
  constructor(
    private readonly counters: Counters,
    private readonly config: Config,
  ) {}

  private key(email: string) {
    return `login:${createHash('sha256').update(email.trim().toLowerCase()).digest('base64url')}`;
  }

  /** Throws 429 while the email is locked out. */
  async assertOpen(email: string): Promise<void> {
    const { count, resetMs } = await this.counters.peek(this.key(email));
    if (count >= this.config.rateLimit.loginFailures) throw lockedOut(resetMs);
  }

  /** Counts a failure; true when this failure locked the email. */
  async fail(email: string): Promise<boolean> {
    const { count } = await this.counters.hit(this.key(email), WINDOW_MS);
    return count === this.config.rateLimit.loginFailures;
  }
}

export function lockedOut(resetMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(resetMs / 1000));
  return new AppError('rate_limited', 'Too many attempts; try again later', undefined, undefined, {
    'retry-after': String(seconds),
  });
}
