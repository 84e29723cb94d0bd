import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { principalOf } from '../../auth/guard.js';
import { toPage } from '../shared.js';
import * as repo from './repo.js';
import { webhookLogPage, webhookLogQuery } from './schema.js';

/**
 * The webhook log (CONTRACT section 10): every delivery to the organization's channels,
 * refused ones included. Admins only, like the audit and security logs; read-only.
 */
export const webhookLogRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.ctx;

  app.get(
    '/webhook-logs',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'Webhook deliveries of the organization, newest first',
        querystring: webhookLogQuery,
        response: { 200: webhookLogPage },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rows = await db.withOrgRead(orgId, (tx) => repo.list(tx, orgId, request.query));
      return toPage(rows, request.query.limit);
    },
  );
};
