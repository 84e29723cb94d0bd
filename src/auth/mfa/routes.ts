import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TOTP_PENDING_SECRET, TOTP_SECRET } from '../../db/schema/mfa.js';
import { AppError } from '../../security/errors.js';
import { AUTH_IP } from '../../security/rate-limit.js';
import { OWN_ACCOUNT } from '../policies.js';
import { principalOf } from '../guard.js';
import { reauthenticate } from '../reauth.js';
import { newRecoveryCodes, newTotpSecret, otpauthUrl, totpStep } from './codes.js';
import { wrongCode } from './factor.js';
import { loginMfaRoutes } from './login-routes.js';
import { auditEntry } from '../../audit/request.js';
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
      config: OWN_ACCOUNT,
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
        await audit.record(tx, auditEntry(request, { action: 'mfa.totp.setup' }));
        return account.email;
      });
      return { secret, otpauthUrl: otpauthUrl(email, secret) };
    },
  );

  app.post(
    '/auth/mfa/totp/enable',
    {
      config: OWN_ACCOUNT,
      schema: {
        tags,
        summary: 'Confirm enrolment with a code and the password; answers the recovery codes, once',
        body: enableBody,
        response: { 200: enableOut },
      },
    },
    async (request) => {
      const { orgId, userId } = principalOf(request);
      if (await db.withOrgStatement(orgId, (tx) => repo.isEnrolled(tx, orgId, userId))) {
        throw alreadyOn();
      }
      // A stolen session alone must not enrol the thief's authenticator.
      await reauthenticate(app.ctx, request, { password: request.body.password }, 'mfa_enable');
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
        await audit.record(tx, auditEntry(request, { action: 'mfa.totp.enabled' }));
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
      const { password, code } = request.body;
      const factor = await reauthenticate(app.ctx, request, { password, code }, 'mfa_disable');
      if (!factor) throw new AppError('conflict', 'Two-step sign-in is not on');
      await db.withOrg(orgId, async (tx) => {
        await repo.deleteEnrolment(tx, orgId, userId);
        await repo.setMfaEnabled(tx, orgId, userId, false);
        const entry = { action: 'mfa.totp.disabled', metadata: { with: factor } };
        await audit.record(tx, auditEntry(request, entry));
      });
      await sessions.forgetUser(userId);
      return reply.code(204).send();
    },
  );

  await app.register(loginMfaRoutes);
};
