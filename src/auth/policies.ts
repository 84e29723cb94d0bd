import type { FastifyContextConfig } from 'fastify';
import { AUTH_IP } from '../security/rate-limit.js';

/**
 * Route policies shared by the identity routes, named so that a route table reads as a
 * policy: each is counted per client address (AUTH_IP) on top of the general limit.
 */

/** Sign-in and sign-up: no session yet (public), limited per address. */
export const SIGN_IN: FastifyContextConfig = { access: 'public', rateLimit: AUTH_IP };

/**
 * A member acting on their own account and session. Reachable before MFA enrolment when
 * the organization requires it: these are the routes that let a member enrol or leave.
 */
export const OWN_ACCOUNT: FastifyContextConfig = {
  access: 'viewer',
  rateLimit: AUTH_IP,
  allowWithoutMfa: true,
};
