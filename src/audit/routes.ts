import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { principalOf } from '../auth/guard.js';
import { toPage } from '../modules/shared.js';
import * as repo from './repo.js';
import { auditListQuery, auditLogPage, securityEventPage, securityListQuery } from './schema.js';

/**
 * The audit and security logs (CONTRACT section 10): admins only, since they show who did
 * what from where across the whole organization. Read-only; nothing here writes.
 */
export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.ctx;
  const tags = ['audit'];

  app.get(
    '/audit-logs',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'The audit log, newest first',
        querystring: auditListQuery,
        response: { 200: auditLogPage },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rows = await db.withOrgStatement(orgId, (tx) =>
        repo.listAuditLogs(tx, orgId, request.query),
      );
      return toPage(rows, request.query.limit);
    },
  );

  app.get(
    '/security-events',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Security events of the organization, newest first',
        querystring: securityListQuery,
        response: { 200: securityEventPage },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rows = await db.withOrgStatement(orgId, (tx) =>
        repo.listSecurityEvents(tx, orgId, request.query),
      );
      return toPage(rows, request.query.limit);
    },
  );
};
