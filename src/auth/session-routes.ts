import { and, desc, eq, gt, isNull } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/request.js';
import { sessions } from '../db/schema.js';
import { idParams } from '../http/schemas.js';
import { notFound } from '../security/errors.js';
import { principalOf } from './guard.js';
import { revokedOut, sessionItem } from './schema.js';

/**
 * A member's own sessions ("where am I signed in"). Only the caller's sessions are listed
 * or ended here: another user's session id answers 404, like an unknown one.
 */
export const sessionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, sessions: service } = app.ctx;
  const tags = ['sessions'];

  app.get(
    '/sessions',
    {
      config: { access: 'viewer', allowWithoutMfa: true },
      schema: {
        tags,
        summary: 'My live sessions',
        response: { 200: z.object({ data: z.array(sessionItem) }) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const now = new Date();
      const rows = await db.withOrgRead(p.orgId, (tx) =>
        tx
          .select()
          .from(sessions)
          .where(
            and(
              eq(sessions.organizationId, p.orgId),
              eq(sessions.userId, p.userId),
              isNull(sessions.revokedAt),
              gt(sessions.expiresAt, now),
              gt(sessions.idleExpiresAt, now),
            ),
          )
          .orderBy(desc(sessions.lastUsedAt))
          .limit(100),
      );
      return {
        data: rows.map((s) => ({
          id: s.id,
          createdAt: s.createdAt.toISOString(),
          lastUsedAt: s.lastUsedAt.toISOString(),
          ip: s.ip,
          userAgent: s.userAgent,
          current: s.id === p.sessionId,
        })),
      };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      config: { access: 'viewer', allowWithoutMfa: true },
      schema: { tags, summary: 'End one of my sessions', params: idParams },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const [mine] = await db.withOrgStatement(p.orgId, (tx) =>
        tx
          .select({ id: sessions.id })
          .from(sessions)
          .where(
            and(
              eq(sessions.id, request.params.id),
              eq(sessions.userId, p.userId),
              isNull(sessions.revokedAt),
            ),
          ),
      );
      if (!mine) throw notFound();
      await service.revoke(p.orgId, mine.id, 'terminated');
      await db.withOrg(p.orgId, (tx) =>
        app.ctx.audit.record(
          tx,
          auditEntry(request, {
            action: 'session.terminated',
            targetType: 'session',
            targetId: mine.id,
          }),
        ),
      );
      if (mine.id === p.sessionId) app.ctx.cookies.clear(reply);
      return reply.code(204).send();
    },
  );

  app.post(
    '/sessions/terminate-others',
    {
      config: { access: 'viewer', allowWithoutMfa: true },
      schema: { tags, summary: 'Sign out every other device', response: { 200: revokedOut } },
    },
    async (request) => {
      const p = principalOf(request);
      const revoked = await service.revokeUser(p.orgId, p.userId, 'terminated', p.sessionId);
      await db.withOrg(p.orgId, (tx) =>
        app.ctx.audit.record(
          tx,
          auditEntry(request, { action: 'session.terminated_others', metadata: { revoked } }),
        ),
      );
      return { revoked };
    },
  );
};
