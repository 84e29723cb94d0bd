import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { AppError } from '../security/errors.js';
import * as repo from './repo.js';
import { createSession } from './sessions.js';
import { ACCESS_TTL_SECONDS } from './tokens.js';

/** Whether the client asked for tokens in the body instead of cookies. */
export const wantsTokens = (request: FastifyRequest) => request.headers['x-auth-mode'] === 'token';

/**
 * Starts a brand-new session for a verified user and answers with it: cookies (access,
 * refresh, CSRF) by default, or tokens in the body with `X-Auth-Mode: token`. Nothing from
 * before sign-in carries over: every sign-in gets a new session id.
 */
export async function startSession(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  who: { userId: string; orgId: string },
  status: 200 | 201,
) {
  const { db, tokens, cookies, config } = ctx;
  const { session, profile } = await db.withOrg(who.orgId, async (tx) => ({
    session: await createSession(
      tx,
      { ...who, ip: request.ip, userAgent: request.headers['user-agent'] },
      config.session,
    ),
    profile: await repo.userWithOrganization(tx, who.orgId, who.userId),
  }));
  if (!profile) throw new AppError('invalid_credentials');
  const accessToken = await tokens.signAccess({ ...who, sessionId: session.sessionId });
  const csrfToken = tokens.csrfToken(session.sessionId);
  const body = { ...profile, expiresIn: ACCESS_TTL_SECONDS };
  reply.code(status).header('cache-control', 'no-store');
  if (wantsTokens(request)) {
    return { ...body, accessToken, refreshToken: session.refreshToken };
  }
  cookies.set(reply, {
    accessToken,
    refreshToken: session.refreshToken,
    csrfToken,
    refreshMaxAge: config.session.absoluteTtlSeconds,
  });
  return { ...body, csrfToken };
}
