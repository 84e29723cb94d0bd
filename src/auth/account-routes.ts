import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditEntry } from '../audit/request.js';
import { AppError } from '../security/errors.js';
import { OWN_ACCOUNT } from './policies.js';
import { principalOf } from './guard.js';
import { assertAcceptablePassword, hashPassword } from './passwords.js';
import { reauthenticate } from './reauth.js';
import * as repo from './repo.js';
import { emailBody, emailOut, passwordBody } from './schema.js';

/**
 * A member's own sign-in credentials. Each change re-authenticates (reauth.ts): the
 * current password and, with TOTP on, a code, so a stolen session alone can never take
 * the account over. `PATCH /users/:id` refuses these fields on one's own account.
 */
export const accountRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit, sessions } = app.ctx;
  const tags = ['auth'];

  app.post(
    '/auth/password',
    {
      config: OWN_ACCOUNT,
      schema: {
        tags,
        summary:
          'Change my password (current password, and a code with TOTP on); ends my other sessions',
        body: passwordBody,
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const { currentPassword, newPassword, code } = request.body;
      // Judged before the proof is spent: a refused new password costs no TOTP step.
      assertAcceptablePassword(newPassword);
      const factor = await reauthenticate(
        app.ctx,
        request,
        { password: currentPassword, code },
        'password',
      );
      const hash = await hashPassword(newPassword);
      await db.withOrg(p.orgId, async (tx) => {
        await repo.setPasswordHash(tx, p.userId, hash);
        const target = { targetType: 'user', targetId: p.userId };
        const metadata = factor ? { secondFactor: factor } : {};
        await audit.record(
          tx,
          auditEntry(request, { action: 'auth.password_changed', ...target, metadata }),
        );
      });
      await sessions.revokeUser(p.orgId, p.userId, 'password_changed', p.sessionId);
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/email',
    {
      config: OWN_ACCOUNT,
      schema: {
        tags,
        summary: 'Change my sign-in email (current password, and a code with TOTP on)',
        body: emailBody,
        response: { 200: emailOut },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { currentPassword, newEmail, code } = request.body;
      const factor = await reauthenticate(
        app.ctx,
        request,
        { password: currentPassword, code },
        'email',
      );
      const user = await repo.uniqueEmail(
        db.withOrg(p.orgId, async (tx) => {
          const updated = await repo.setEmail(tx, p.orgId, p.userId, newEmail);
          if (!updated) throw new AppError('unauthorized');
          const target = { targetType: 'user', targetId: p.userId };
          const metadata = { fields: ['email'], ...(factor ? { secondFactor: factor } : {}) };
          await audit.record(
            tx,
            auditEntry(request, { action: 'auth.email_changed', ...target, metadata }),
          );
          return updated;
        }),
      );
      return { user };
    },
  );
};
