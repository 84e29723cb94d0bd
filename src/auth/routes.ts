import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { randomBytes } from 'node:crypto';
import { auditEntry, securityEventFrom } from '../audit/request.js';
import { uuidv7 } from '../db/ids.js';
import { AppError } from '../security/errors.js';
import { principalOf } from './guard.js';
import { assertAcceptablePassword, hashPassword, verifyPassword } from './passwords.js';
import * as repo from './repo.js';
import { OWN_ACCOUNT, SIGN_IN } from './policies.js';
import {
  authModeHeaders,
  loginBody,
  meOut,
  refreshBody,
  refreshOut,
  registerBody,
  revokedOut,
  sessionOut,
} from './schema.js';
import { rotateRefreshToken } from './refresh.js';
import { ACCESS_TTL_SECONDS } from './tokens.js';
import { mfaChallenge } from './mfa/challenge.js';
import { startSession, wantsTokens } from './sign-in.js';

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
 * Identity routes: each is limited per client address (AUTH_IP); sign-in also per email
 * (the lockout). Register, login and refresh are public and CSRF-exempt by nature (no
 * session yet); the rest act on the caller's own session.
 */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, cookies, config, sessions, lockout, audit, tokens } = app.ctx;
  const tags = ['auth'];

  app.post(
    '/auth/register',
    {
      config: SIGN_IN,
      schema: {
        tags,
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
      await repo.uniqueEmail(
        db.withOrg(orgId, async (tx) => {
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
          const target = { targetType: 'organization', targetId: orgId };
          const entry = { orgId, actorId: userId, action: 'organization.registered', ...target };
          await audit.record(tx, auditEntry(request, entry));
        }),
      );
      return startSession(app.ctx, request, reply, { userId, orgId }, 201);
    },
  );

  app.post(
    '/auth/login',
    {
      config: SIGN_IN,
      schema: {
        tags,
        summary: 'Sign in with email and password',
        body: loginBody,
        headers: authModeHeaders,
        response: { 200: sessionOut },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body;
      const normalized = email.trim().toLowerCase();
      const { last } = await lockout.attempt(normalized);
      const found = await db.withoutOrg((tx) => repo.credentialsByEmail(tx, normalized));
      // Always one argon2 verification, also for unknown emails: same answer, same time.
      const ok = await verifyPassword(found?.password_hash, password);
      if (!ok || !found) {
        await audit.securityEvent(
          securityEventFrom(request, {
            orgId: found?.organization_id ?? null,
            userId: found?.user_id ?? null,
            type: last ? 'login_locked' : 'login_failed',
          }),
        );
        throw new AppError('invalid_credentials');
      }
      await lockout.succeeded(normalized);
      const who = { userId: found.user_id, orgId: found.organization_id };
      // With a second factor enrolled, no session exists until it is proven.
      const challenge = await mfaChallenge(app.ctx, who);
      if (challenge) throw challenge;
      const entry = { orgId: who.orgId, actorId: who.userId, action: 'auth.login' };
      await db.withOrg(who.orgId, (tx) => audit.record(tx, auditEntry(request, entry)));
      return startSession(app.ctx, request, reply, who, 200);
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: SIGN_IN,
      schema: {
        tags,
        summary: 'Trade a refresh token for a new pair; a reused token ends its session',
        body: refreshBody.nullish(),
        headers: authModeHeaders,
        response: { 200: refreshOut },
      },
    },
    async (request, reply) => {
      const inBody = request.body?.refreshToken;
      if (inBody !== undefined && !wantsTokens(request)) {
        // Cookie mode reads only the cookie: a body token would be silently ignored.
        throw new AppError(
          'validation_failed',
          'A refresh token in the body needs the header X-Auth-Mode: token (cookie mode reads only the refresh cookie)',
          {
            errors: [
              { path: 'headers.x-auth-mode', message: 'must be "token" with a body refreshToken' },
            ],
          },
        );
      }
      const token = wantsTokens(request) ? inBody : request.cookies[cookies.names.refresh];
      if (!token) {
        throw new AppError(
          'unauthorized',
          wantsTokens(request)
            ? 'No refresh token: send {"refreshToken": "..."}'
            : 'No refresh cookie: sign in again, or use X-Auth-Mode: token with a body refreshToken',
        );
      }
      const outcome = await rotateRefreshToken(db, token, config.session);
      if (outcome.kind === 'invalid') {
        cookies.clear(reply);
        throw new AppError('unauthorized');
      }
      if (outcome.kind === 'reused') {
        await sessions.revoke(outcome.orgId, outcome.sessionId, 'refresh_token_reuse');
        await audit.securityEvent(
          securityEventFrom(request, {
            orgId: outcome.orgId,
            userId: outcome.userId,
            type: 'refresh_token_reuse',
            metadata: { sessionId: outcome.sessionId },
          }),
        );
        cookies.clear(reply);
        throw new AppError(
          'token_reused',
          'This refresh token was already used; the session is ended',
        );
      }
      const accessToken = await tokens.signAccess(outcome);
      reply.header('cache-control', 'no-store');
      if (wantsTokens(request)) {
        return { accessToken, refreshToken: outcome.refreshToken, expiresIn: ACCESS_TTL_SECONDS };
      }
      const csrfToken = tokens.csrfToken(outcome.sessionId);
      cookies.set(reply, {
        accessToken,
        refreshToken: outcome.refreshToken,
        csrfToken,
        refreshMaxAge: config.session.absoluteTtlSeconds,
      });
      return { expiresIn: ACCESS_TTL_SECONDS, csrfToken };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: OWN_ACCOUNT,
      schema: { tags, summary: 'End this session' },
    },
    async (request, reply) => {
      const p = principalOf(request);
      await sessions.revoke(p.orgId, p.sessionId, 'logout');
      await db.withOrg(p.orgId, (tx) =>
        audit.record(tx, auditEntry(request, { action: 'auth.logout' })),
      );
      cookies.clear(reply);
      return reply.code(204).send();
    },
  );

  app.post(
    '/auth/logout-all',
    {
      config: OWN_ACCOUNT,
      schema: { tags, summary: 'End every session of the caller', response: { 200: revokedOut } },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const revoked = await sessions.revokeUser(p.orgId, p.userId, 'logout_all');
      const entry = { action: 'auth.logout_all', metadata: { revoked } };
      await db.withOrg(p.orgId, (tx) => audit.record(tx, auditEntry(request, entry)));
      cookies.clear(reply);
      return { revoked };
    },
  );

  app.get(
    '/auth/me',
    {
      config: OWN_ACCOUNT,
      schema: { tags, summary: 'The signed-in user and organization', response: { 200: meOut } },
    },
    async (request) => {
      const p = principalOf(request);
      const profile = await db.withOrgRead(p.orgId, (tx) =>
        repo.userWithOrganization(tx, p.orgId, p.userId),
      );
      if (!profile) throw new AppError('unauthorized');
      return { ...profile, sessionId: p.sessionId };
    },
  );
};
