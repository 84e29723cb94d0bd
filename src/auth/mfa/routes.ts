import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** Routes: TOTP enrolment (/auth/mfa/totp/*) and the second sign-in step (/auth/login/mfa). Built by the MFA work. */
export const mfaRoutes: FastifyPluginAsyncZod = async () => {};
