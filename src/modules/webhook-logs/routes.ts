import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listRoute } from '../list-route.js';
import * as repo from './repo.js';
import { webhookLogPage, webhookLogQuery } from './schema.js';

/**
 * The webhook log (CONTRACT section 10): every delivery to the organization's channels,
 * refused ones included. Admins only, like the audit and security logs; read-only.
 */
export const webhookLogRoutes: FastifyPluginAsyncZod = async (app) => {
  listRoute(app, '/webhook-logs', {
    config: { access: 'admin' },
    tags: ['audit'],
    summary: 'Webhook deliveries of the organization, newest first',
    querystring: webhookLogQuery,
    response: webhookLogPage,
    read: 'lane',
    list: repo.list,
  });
};
