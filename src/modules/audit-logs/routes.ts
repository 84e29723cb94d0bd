import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listRoute } from '../list-route.js';
import * as repo from './repo.js';
import { auditListQuery, auditLogPage, securityEventPage, securityListQuery } from './schema.js';

/**
 * The audit and security logs (CONTRACT section 10): admins only, since they show who did
 * what from where across the whole organization. Read-only; nothing here writes.
 */
export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['audit'];

  listRoute(app, '/audit-logs', {
    config: { access: 'admin' },
    tags,
    summary: 'The audit log, newest first',
    querystring: auditListQuery,
    response: auditLogPage,
    read: 'statement',
    list: repo.listAuditLogs,
  });

  listRoute(app, '/security-events', {
    config: { access: 'admin' },
    tags,
    summary: 'Security events of the organization, newest first',
    querystring: securityListQuery,
    response: securityEventPage,
    read: 'statement',
    list: repo.listSecurityEvents,
  });
};
