import type { FastifyContextConfig } from 'fastify';
import { WEBHOOK_IP } from '../security/rate-limit.js';

/**
 * The policy of every inbound webhook route: no session (the signature over the raw body
 * is the credential, checked by the route), and refused requests limited per address
 * (registerFailureLimit), so guessing verify tokens or posting unsigned bodies runs out.
 */
export const SIGNED_WEBHOOK: FastifyContextConfig = { access: 'public', rateLimit: WEBHOOK_IP };
