import type { AppContext } from '../../context.js';
import type { Tx } from '../../db/client.js';
import { TOTP_SECRET } from '../../db/schema/mfa.js';
import { AppError } from '../../security/errors.js';
import { looksLikeTotp, matchRecoveryCode, totpStep } from './codes.js';
import * as repo from './repo.js';

/** One answer for a wrong and a replayed code: neither tells a guesser more than the other. */
export const wrongCode = () =>
  new AppError('invalid_mfa_code', 'The code is wrong or was already used');

export type Proof =
  | { ok: true; method: 'totp' | 'recovery_code' }
  | { ok: false; reason: 'not_enrolled' | 'missing_code' | 'wrong_code' | 'replayed_code' };

/**
 * Checks a second factor of an enrolled user and spends it: a TOTP code's time step (so it
 * can never be used again, RFC 6238 5.2), or a recovery code. Runs inside the caller's
 * transaction, which locks the user's TOTP row first: two requests racing with one code
 * queue, and the second finds the step spent.
 */
export async function proveFactor(
  ctx: AppContext,
  tx: Tx,
  who: { orgId: string; userId: string },
  code: string | undefined,
  nowMs = Date.now(),
): Promise<Proof> {
  const { orgId, userId } = who;
  const totp = await repo.lockTotp(tx, orgId, userId);
  if (!totp?.secret) return { ok: false, reason: 'not_enrolled' };
  if (code === undefined) return { ok: false, reason: 'missing_code' };

  if (looksLikeTotp(code)) {
    const secret = ctx.keyring.decrypt(totp.secret, orgId, TOTP_SECRET);
    const step = await totpStep(secret, code, nowMs);
    if (step === null) return { ok: false, reason: 'wrong_code' };
    if (totp.lastUsedStep !== null && step <= totp.lastUsedStep) {
      return { ok: false, reason: 'replayed_code' };
    }
    const spent = await repo.spendStep(tx, orgId, userId, step);
    return spent ? { ok: true, method: 'totp' } : { ok: false, reason: 'replayed_code' };
  }

  const match = matchRecoveryCode(code, await repo.unusedRecoveryHashes(tx, orgId, userId));
  if (!match || !(await repo.spendRecoveryCode(tx, orgId, match))) {
    return { ok: false, reason: 'wrong_code' };
  }
  return { ok: true, method: 'recovery_code' };
}
