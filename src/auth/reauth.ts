import type { FastifyRequest } from 'fastify';
import { securityEventFrom } from '../audit/request.js';
import type { AppContext } from '../context.js';
import { AppError } from '../security/errors.js';
import { principalOf } from './guard.js';
import { proveFactor, wrongCode } from './mfa/factor.js';
import * as mfaRepo from './mfa/repo.js';
import { verifyPassword } from './passwords.js';

/** What a member presents to prove they are the account's owner, not only its session. */
export interface ReauthProof {
  password: string;
  /** A TOTP or recovery code: required when two-step sign-in is on. */
  code?: string | undefined;
}

/**
 * Re-authentication before an account-changing action (password, email, two-step sign-in).
 * A stolen session (a copied cookie or token) must never be enough to take the account
 * over: the current password is required and, with TOTP on, a code, which is spent.
 * Guesses count against the member's own lockout, shared by every such route, so a stolen
 * session cannot try passwords faster than sign-in allows; failures are security events.
 * Answers the second factor used, or null when the member has none.
 */
export async function reauthenticate(
  ctx: AppContext,
  request: FastifyRequest,
  proof: ReauthProof,
  purpose: string,
): Promise<'totp' | 'recovery_code' | null> {
  const { orgId, userId } = principalOf(request);
  const subject = `user:${userId}`;
  const failed = (reason: string) =>
    ctx.audit.securityEvent(
      securityEventFrom(request, { type: 'reauth_failed', metadata: { purpose, reason } }),
    );

  await ctx.lockout.attempt(subject);
  const account = await ctx.db.withOrgStatement(orgId, (tx) =>
    mfaRepo.passwordHashOf(tx, orgId, userId),
  );
  // Always one argon2 verification, as at sign-in.
  if (!(await verifyPassword(account?.hash, proof.password))) {
    await failed('password');
    throw new AppError('invalid_credentials', 'The current password is wrong');
  }
  const factor = await ctx.db.withOrg(orgId, (tx) =>
    proveFactor(ctx, tx, { orgId, userId }, proof.code),
  );
  if (!factor.ok && factor.reason === 'missing_code') {
    throw new AppError(
      'mfa_required',
      'Two-step sign-in is on: send a code from your authenticator app, or a recovery code',
    );
  }
  if (!factor.ok && factor.reason !== 'not_enrolled') {
    await failed(factor.reason);
    throw wrongCode();
  }
  await ctx.lockout.succeeded(subject);
  return factor.ok ? factor.method : null;
}
