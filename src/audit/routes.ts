import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** Routes: GET /audit-logs, GET /security-events (admin). Built by the audit work. */
export const auditRoutes: FastifyPluginAsyncZod = async () => {};
