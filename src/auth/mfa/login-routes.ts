import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, rateLimited } from '../../security/errors.js';
import { SIGN_IN } from '../policies.js';
import { authModeHeaders, sessionOut } from '../schema.js';
import { startSession } from '../sign-in.js';
import { completeChallenge } from './challenge.js';
import { wrongCode } from './factor.js';
import { securityEventFrom } from '../../audit/request.js';
import { loginMfaBody } from './schema.js';

/**
 * The second step of sign-in. Public: the caller holds only the mfaToken that /auth/login
 * answered with, and no session, cookie or token exists until the code is proven.
 */
export const loginMfaRoutes: FastifyPluginAsyncZod = async (app) => {
  const { audit } = app.ctx;

  app.post(
    '/auth/login/mfa',
    {
      config: SIGN_IN,
      schema: {
        tags: ['auth'],
        summary: 'Second sign-in step: the mfaToken from /auth/login and a code',
        body: loginMfaBody,
        headers: authModeHeaders,
        response: { 200: sessionOut },
      },
    },
    async (request, reply) => {
      const result = await completeChallenge(app.ctx, request, request.body);
      if (result.ok) {
        return startSession(
          app.ctx,
          request,
          reply,
          { orgId: result.orgId, userId: result.userId },
          200,
        );
      }
      const ended = result.reason === 'ended' || (result.reason !== 'throttled' && result.ended);
      const type =
        result.reason === 'throttled'
          ? 'mfa_throttled'
          : ended
            ? 'mfa_challenge_ended'
            : 'mfa_failed';
      await audit.securityEvent(
        securityEventFrom(request, {
          orgId: result.orgId ?? null,
          userId: result.userId ?? null,
          type,
          metadata: { reason: result.reason },
        }),
      );
      if (result.reason === 'throttled') {
        throw rateLimited(result.retryAfterSeconds * 1000, 'Too many wrong codes; try again later');
      }
      if (ended) {
        throw new AppError(
          'invalid_mfa_code',
          'This sign-in has ended; sign in again with your password',
        );
      }
      throw wrongCode();
    },
  );
};
