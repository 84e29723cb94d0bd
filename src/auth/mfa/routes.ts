import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TOTP_PENDING_SECRET, TOTP_SECRET } from '../../db/schema/mfa.js';
import { AppError } from '../../security/errors.js';
import { AUTH_IP } from '../../security/rate-limit.js';
import { principalOf } from '../guard.js';
import { verifyPassword } from '../passwords.js';
import { newRecoveryCodes, newTotpSecret, otpauthUrl, totpStep } from './codes.js';
import { proveFactor, wrongCode } from './factor.js';
import { loginMfaRoutes } from './login-routes.js';
import { originOf } from './origin.js';
import * as repo from './repo.js';
import { disableBody, enableBody, enableOut, setupBody, setupOut } from './schema.js';

const alreadyOn = () =>
  new AppError('conflict', 'Two-step sign-in is already on; turn it off before enrolling again');

/**
 * TOTP enrolment (any signed-in member, for themselves), and the second step of sign-in
 * (login-routes.ts). The secret is shown once, at setup, and stored only keyring-encrypted;
 * recovery codes are shown once, at enable, and stored only hashed.
 */
export const mfaRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, keyring, audit, sessions } = app.ctx;
  const tags = ['mfa'];

  app.post(
    '/auth/mfa/totp/setup',
    {
      config: { access: 'viewer', rateLimit: AUTH_IP, allowWithoutMfa: true },
      schema: {
        tags,
        summary: 'Start TOTP enrolment: a new secret, confirmed by /enable',
        body: setupBody,
        response: { 200: setupOut },
      },
    },
    async (request) => {
      const { orgId, userId } = principalOf(request);
      const secret = newTotpSecret();
      const email = await db.withOrg(orgId, async (tx) => {
        const totp = await repo.lockTotp(tx, orgId, userId);
        if (totp?.secret) throw alreadyOn();
        const account = await repo.passwordHashOf(tx, orgId, userId);
        if (!account) throw new AppError('unauthorized');
        const pending = keyring.encrypt(secret, orgId, TOTP_PENDING_SECRET);
        await repo.savePendingSecret(tx, orgId, userId, pending);
        await audit.record(tx, {
          orgId,
          actorId: userId,
          action: 'mfa.totp.setup',
          ...originOf(request),
        });
        return account.email;
      });
      return { secret, otpauthUrl: otpauthUrl(email, secret) };
    },
  );

  app.post(
    '/auth/mfa/totp/enable',
    {
      config: { access: 'viewer', rateLimit: AUTH_IP, allowWithoutMfa: true },
      schema: {
        tags,
        summary: 'Confirm enrolment with a code; answers the recovery codes, once',
        body: enableBody,
        response: { 200: enableOut },
      },
    },
    async (request) => {
      const { orgId, userId } = principalOf(request);
      const { codes, hashes } = newRecoveryCodes();
      await db.withOrg(orgId, async (tx) => {
        const totp = await repo.lockTotp(tx, orgId, userId);
        if (totp?.secret) throw alreadyOn();
        if (!totp?.pendingSecret) {
          throw new AppError('conflict', 'Start with /auth/mfa/totp/setup');
        }
        const secret = keyring.decrypt(totp.pendingSecret, orgId, TOTP_PENDING_SECRET);
        const step = await totpStep(secret, request.body.code, Date.now());
        if (step === null) throw wrongCode();
        // The enrolment code's step is spent too: it cannot sign in afterwards.
        await repo.activateSecret(
          tx,
          orgId,
          userId,
          keyring.encrypt(secret, orgId, TOTP_SECRET),
          step,
        );
        await repo.setMfaEnabled(tx, orgId, userId, true);
        await repo.replaceRecoveryCodes(tx, orgId, userId, hashes);
        await audit.record(tx, {
          orgId,
          actorId: userId,
          action: 'mfa.totp.enabled',
          ...originOf(request),
        });
      });
      await sessions.forgetUser(userId);
      return { recoveryCodes: codes };
    },
  );

  app.post(
    '/auth/mfa/totp/disable',
    {
      config: { access: 'viewer', rateLimit: AUTH_IP },
      schema: {
        tags,
        summary: 'Turn TOTP off: needs the password and a code (or a recovery code)',
        body: disableBody,
      },
    },
    async (request, reply) => {
      const { orgId, userId } = principalOf(request);
      const origin = originOf(request);
      // Shared with password changes: a stolen session cannot guess its way to either.
      await app.ctx.lockout.attempt(`user:${userId}`);
      const account = await db.withOrgStatement(orgId, (tx) =>
        repo.passwordHashOf(tx, orgId, userId),
      );
      // A stolen session alone must not be able to remove the second factor.
      if (!(await verifyPassword(account?.hash, request.body.password))) {
        await audit.securityEvent({
          orgId,
          userId,
          type: 'mfa_disable_failed',
          ...origin,
          metadata: { reason: 'password' },
        });
        throw new AppError('invalid_credentials', 'The password is wrong');
      }
      const proof = await db.withOrg(orgId, async (tx) => {
        const proved = await proveFactor(app.ctx, tx, { orgId, userId }, request.body.code);
        if (!proved.ok) return proved;
        await repo.deleteEnrolment(tx, orgId, userId);
        await repo.setMfaEnabled(tx, orgId, userId, false);
        await audit.record(tx, {
          orgId,
          actorId: userId,
          action: 'mfa.totp.disabled',
          ...origin,
          metadata: { with: proved.method },
        });
        return proved;
      });
      if (!proof.ok) {
        if (proof.reason === 'not_enrolled')
          throw new AppError('conflict', 'Two-step sign-in is not on');
        await audit.securityEvent({
          orgId,
          userId,
          type: 'mfa_disable_failed',
          ...origin,
          metadata: { reason: proof.reason },
        });
        throw wrongCode();
      }
      await app.ctx.lockout.succeeded(`user:${userId}`);
      await sessions.forgetUser(userId);
      return reply.code(204).send();
    },
  );

  await app.register(loginMfaRoutes);
};
