import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditEntry } from '../../audit/request.js';
import { principalOf } from '../../auth/guard.js';
import { notFound } from '../../security/errors.js';
import { orNotFound } from '../../http/pages.js';
import * as repo from './repo.js';
import { organizationPatch, organizationSettingsOut } from './schema.js';

/**
 * The organization settings route table (/organization): every member reads them, admins
 * change them. Which organization is never a parameter: it is the caller's own.
 * requireMfa is only stored here; the auth guard enforces it.
 */
export const organizationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit } = app.ctx;
  const tags = ['organization'];

  app.get(
    '/organization',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: "The caller's organization and its settings",
        response: { 200: organizationSettingsOut },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      return orNotFound(await db.withOrgStatement(orgId, (tx) => repo.get(tx, orgId)));
    },
  );

  app.patch(
    '/organization',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: "Change the organization's name or MFA policy",
        body: organizationPatch,
        response: { 200: organizationSettingsOut },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const updated = await db.withOrg(p.orgId, async (tx) => {
        const before = await repo.get(tx, p.orgId);
        const after = await repo.update(tx, p.orgId, request.body);
        if (!before || !after) throw notFound();
        const metadata = {
          fields: Object.keys(request.body),
          ...(before.requireMfa !== after.requireMfa ? { requireMfa: after.requireMfa } : {}),
        };
        const target = { targetType: 'organization', targetId: p.orgId };
        const entry = { action: 'organization.updated', ...target, metadata };
        await audit.record(tx, auditEntry(request, entry));
        return after;
      });
      // The MFA policy is part of every cached session check: apply it on the next request.
      if (request.body.requireMfa !== undefined) await app.ctx.sessions.forgetOrganization(p.orgId);
      return updated;
    },
  );
};
