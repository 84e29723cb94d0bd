import type { FastifyPluginAsync } from 'fastify';
import { commerceWebhook } from './commerce/route.js';
import { registerRawBody } from './raw-body.js';
import { whatsappWebhookRoutes } from './whatsapp/route.js';

/**
 * Inbound webhooks (CONTRACT section 7), outside /api/v1: no session, no CSRF, no JSON
 * parser. Each route authenticates its sender by an HMAC over the raw body instead.
 */
export const webhookRoutes: FastifyPluginAsync = async (app) => {
  registerRawBody(app);
  await app.register(whatsappWebhookRoutes);
  await app.register(commerceWebhook);
};
