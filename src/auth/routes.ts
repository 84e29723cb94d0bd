import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { randomBytes } from 'node:crypto';
import { isUniqueViolation } from '../db/errors.js';
import { uuidv7 } from '../db/ids.js';
import { AppError } from '../security/errors.js';
import { principalOf } from './guard.js';
import { assertAcceptablePassword, hashPassword, verifyPassword } from './passwords.js';
import * as repo from './repo.js';
import { authModeHeaders, loginBody, meOut, registerBody, sessionOut } from './schema.js';
import { mfaChallenge } from './mfa/challenge.js';
import { startSession } from './sign-in.js';

/** A URL-safe slug from the organization's name, made unique by a random suffix. */
function slugFor(name: string): string {
  const base = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return `${base || 'org'}-${randomBytes(4).toString('hex')}`;
}

/**
 * Identity routes. Everything here is public except what needs a session; the per-IP auth
 * rate limit and the per-email lockout arrive with the identity issue.
 */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, cookies, config } = app.ctx;

  app.post(
    '/auth/register',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Create an organization and its owner, and sign in',
        body: registerBody,
        headers: authModeHeaders,
        response: { 201: sessionOut },
      },
    },
    async (request, reply) => {
      if (config.registrationMode === 'closed') {
        throw new AppError('forbidden', 'Registration is closed on this server');
      }
      const { organizationName, name, email, password } = request.body;
      assertAcceptablePassword(password);
      const passwordHash = await hashPassword(password);
      const orgId = uuidv7();
      const userId = uuidv7();
      try {
        await db.withOrg(orgId, async (tx) => {
          await repo.insertOrganization(tx, {
            id: orgId,
            name: organizationName,
            slug: slugFor(organizationName),
          });
          await repo.insertUser(tx, {
            id: userId,
            orgId,
            email,
            name,
            role: 'owner',
            passwordHash,
          });
        });
      } catch (err) {
        if (isUniqueViolation(err, 'users_email_key')) {
          throw new AppError('conflict', 'An account with this email already exists');
        }
        throw err;
      }
      return startSession(app.ctx, request, reply, { userId, orgId }, 201);
    },
  );

  app.post(
    '/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        body: loginBody,
        headers: authModeHeaders,
        response: { 200: sessionOut },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body;
      const found = await db.withoutOrg((tx) =>
        repo.credentialsByEmail(tx, email.trim().toLowerCase()),
      );
      // Always one argon2 verification, also for unknown emails: same answer, same time.
      const ok = await verifyPassword(found?.password_hash, password);
      if (!ok || !found) throw new AppError('invalid_credentials');
      const who = { userId: found.user_id, orgId: found.organization_id };
      // With a second factor enrolled, no session exists until it is proven.
      const challenge = await mfaChallenge(app.ctx, who);
      if (challenge) throw challenge;
      return startSession(app.ctx, request, reply, who, 200);
    },
  );

  app.post(
    '/auth/logout',
    { config: { access: 'viewer' }, schema: { tags: ['auth'], summary: 'End this session' } },
    async (request, reply) => {
      const p = principalOf(request);
      await app.ctx.sessions.revoke(p.orgId, p.sessionId, 'logout');
      cookies.clear(reply);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user and organization',
        response: { 200: meOut },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const profile = await db.withOrgStatement(p.orgId, (tx) =>
        repo.userWithOrganization(tx, p.userId),
      );
      if (!profile) throw new AppError('unauthorized');
      return { ...profile, sessionId: p.sessionId };
    },
  );
};
