import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantOf } from '../../auth/guard.js';
import { notFound } from '../../security/errors.js';
import { toPage } from '../../http/pages.js';
import * as repo from './repo.js';
import { timelineParams, timelinePage, timelineQuery } from './schema.js';

/**
 * A customer's timeline (orders from commerce channels, ...): read-only, readable by
 * anyone who may read the customer. Another organization's customer is 404, as if absent.
 */
export const timelineRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.ctx;

  app.get(
    '/customers/:id/timeline',
    {
      config: { access: 'viewer', scope: 'customers:read' },
      schema: {
        tags: ['customers'],
        summary: "A customer's timeline, newest first",
        params: timelineParams,
        querystring: timelineQuery,
        response: { 200: timelinePage },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const rows = await db.withOrgRead(orgId, (tx) =>
        repo.timeline(tx, orgId, request.params.id, request.query),
      );
      if (!rows) throw notFound();
      return toPage(rows, request.query.limit);
    },
  );
};
