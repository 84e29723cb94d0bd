import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Counters } from '../infra/counters.js';
import { rateLimited, type AppError } from '../security/errors.js';

const WINDOW_MS = 15 * 60 * 1000;

/**
 * Online guessing defence per account: after `RATE_LIMIT_LOGIN_FAILURES` failed sign-ins for
 * one email within 15 minutes, further attempts are refused (429) for the rest of the window
 * even with the right password, so a guesser learns nothing from a late success. The same
 * guards re-authentication of a signed-in user (password change, MFA disable), so a stolen
 * session is no password oracle. Subjects are hashed: the counter store holds no addresses.
 */
export class LoginLockout {
  constructor(
    private readonly counters: Counters,
    private readonly config: Config,
  ) {}

  /** Subjects are emails (sign-in) or `user:<id>` (re-authentication); stored hashed. */
  private key(subject: string) {
    return `login:${createHash('sha256').update(subject.trim().toLowerCase()).digest('base64url')}`;
  }

  /**
   * Counts this attempt before the password is checked, and refuses (429) once the window
   * holds more than the allowed failures: checking first and counting afterwards would let a
   * burst of parallel guesses all pass the check. Returns whether this attempt is the last
   * one allowed (its failure locks the subject).
   */
  async attempt(subject: string): Promise<{ last: boolean }> {
    const max = this.config.rateLimit.loginFailures;
    const { count, resetMs } = await this.counters.hit(this.key(subject), WINDOW_MS);
    if (count > max) throw lockedOut(resetMs);
    return { last: count === max };
  }

  /** A success clears the subject's count: only consecutive failures lock. */
  async succeeded(subject: string): Promise<void> {
    await this.counters.reset(this.key(subject));
  }
}

export const lockedOut = (resetMs: number): AppError =>
  rateLimited(resetMs, 'Too many attempts; try again later');
