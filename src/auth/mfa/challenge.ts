import type { AppContext } from '../../context.js';
import { AppError } from '../../security/errors.js';
import type { FastifyRequest } from 'fastify';
import { auditEntry } from '../../audit/request.js';
import { hashChallengeToken, newChallengeToken } from './codes.js';
import { proveFactor } from './factor.js';
import * as challenges from './challenge-repo.js';
import * as repo from './repo.js';

export const CHALLENGE_TTL_SECONDS = 5 * 60;
/** Wrong codes that end one challenge: the client must then start over with the password. */
export const CHALLENGE_MAX_FAILURES = 5;
/**
 * Wrong codes per user across all challenges in a window. Without it, anyone holding the
 * password could open challenge after challenge (five guesses each) and walk the million
 * codes; with it, a guesser gets 10 tries per 15 minutes, a chance of about 3 in 100,000.
 */
export const USER_MAX_FAILURES = 10;
const USER_WINDOW_MS = 15 * 60 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/**
 * The second-factor gate of sign-in: null when the user has no second factor, else the
 * `mfa_required` problem carrying an `mfaToken`, to answer instead of a session. The token
 * is 256 random bits, stored only hashed; it is no JWT, so the access-token verifier can
 * never mistake it for one.
 */
export async function mfaChallenge(
  ctx: AppContext,
  who: { userId: string; orgId: string },
): Promise<AppError | null> {
  const { token, hash } = newChallengeToken();
  const now = Date.now();
  const opened = await ctx.db.withOrg(who.orgId, async (tx) => {
    if (!(await repo.isEnrolled(tx, who.orgId, who.userId))) return false;
    await challenges.pruneChallenges(tx, who.orgId, who.userId, new Date(now - DAY_MS));
    await challenges.insertChallenge(tx, {
      ...who,
      hash,
      expiresAt: new Date(now + CHALLENGE_TTL_SECONDS * 1000),
    });
    return true;
  });
  if (!opened) return null;
  return new AppError(
    'mfa_required',
    'Enter the code from your authenticator app, or a recovery code',
    {
      extra: { mfaToken: token, expiresIn: CHALLENGE_TTL_SECONDS },
      headers: { 'cache-control': 'no-store' },
    },
  );
}

export type ChallengeResult =
  | { ok: true; orgId: string; userId: string; method: 'totp' | 'recovery_code' }
  | { ok: false; reason: 'ended'; orgId?: string; userId?: string }
  | { ok: false; reason: 'throttled'; orgId: string; userId: string; retryAfterSeconds: number }
  | {
      ok: false;
      reason: 'wrong_code' | 'replayed_code';
      orgId: string;
      userId: string;
      ended: boolean;
    };

/**
 * The second step: proves the code against the challenge's user and closes the challenge.
 * The challenge row stays locked throughout, so concurrent attempts with one token run one
 * after the other and at most one of them can succeed.
 */
export async function completeChallenge(
  ctx: AppContext,
  request: FastifyRequest,
  input: { mfaToken: string; code: string },
): Promise<ChallengeResult> {
  const { mfaToken, code } = input;
  const hash = hashChallengeToken(mfaToken);
  const orgId = await ctx.db.withoutOrg((tx) => challenges.challengeOrg(tx, hash));
  if (!orgId) return { ok: false, reason: 'ended' };

  return ctx.db.withOrg(orgId, async (tx): Promise<ChallengeResult> => {
    const now = Date.now();
    const challenge = await challenges.lockChallenge(tx, orgId, hash);
    if (!challenge) return { ok: false, reason: 'ended' };
    const { userId } = challenge;
    if (
      challenge.completedAt !== null ||
      challenge.expiresAt.getTime() <= now ||
      challenge.failures >= CHALLENGE_MAX_FAILURES
    ) {
      return { ok: false, reason: 'ended', orgId, userId };
    }

    // The per-user count is read under the user's TOTP row lock, so parallel guesses over
    // many challenges queue here and each sees the failures of the ones before it.
    await repo.lockTotp(tx, orgId, userId);
    const recent = await challenges.failuresSince(
      tx,
      orgId,
      userId,
      new Date(now - USER_WINDOW_MS),
    );
    if (recent.failures >= USER_MAX_FAILURES) {
      const reset = (recent.oldest?.getTime() ?? now) + USER_WINDOW_MS - now;
      return {
        ok: false,
        reason: 'throttled',
        orgId,
        userId,
        retryAfterSeconds: Math.max(1, Math.ceil(reset / 1000)),
      };
    }

    const proof = await proveFactor(ctx, tx, { orgId, userId }, code, now);
    if (!proof.ok) {
      const failures = await challenges.countFailure(tx, orgId, hash);
      if (proof.reason === 'not_enrolled') return { ok: false, reason: 'ended', orgId, userId };
      const ended = failures >= CHALLENGE_MAX_FAILURES;
      const reason = proof.reason === 'replayed_code' ? 'replayed_code' : 'wrong_code';
      return { ok: false, reason, orgId, userId, ended };
    }
    await challenges.completeChallenge(tx, orgId, hash);
    const target = { targetType: 'user', targetId: userId };
    const entry = { orgId, actorId: userId, action: 'auth.login', ...target };
    await ctx.audit.record(
      tx,
      auditEntry(request, { ...entry, metadata: { secondFactor: proof.method } }),
    );
    return { ok: true, orgId, userId, method: proof.method };
  });
}
