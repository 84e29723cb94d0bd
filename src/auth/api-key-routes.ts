import { desc, eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEntry } from '../audit/request.js';
import { uuidv7 } from '../db/ids.js';
import { apiKeys, scopes } from '../db/schema/api-keys.js';
import { idParams, text, timestamp } from '../http/schemas.js';
import { notFound, validationFailed } from '../security/errors.js';
import { newApiKey } from './api-keys.js';
import { principalOf } from './guard.js';

const keyOut = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(scopes)),
  createdAt: timestamp,
  expiresAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
});

const createBody = z.strictObject({
  name: text(100),
  scopes: z
    .array(z.enum(scopes))
    .min(1)
    .refine((s) => new Set(s).size === s.length, 'scopes must not repeat'),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;
const toOut = (k: typeof apiKeys.$inferSelect) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scopes: k.scopes,
  createdAt: k.createdAt.toISOString(),
  expiresAt: iso(k.expiresAt),
  lastUsedAt: iso(k.lastUsedAt),
  revokedAt: iso(k.revokedAt),
});

/** Organization API keys (admins). The secret is answered once, at creation. */
export const apiKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit, apiKeys: service } = app.ctx;
  const tags = ['api-keys'];

  app.post(
    '/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Create an API key; its secret is shown only in this answer',
        body: createBody,
        response: { 201: keyOut.extend({ key: z.string() }) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const expiresAt = request.body.expiresAt ? new Date(request.body.expiresAt) : null;
      if (expiresAt && expiresAt.getTime() <= Date.now()) {
        throw validationFailed([{ path: 'body.expiresAt', message: 'must be in the future' }]);
      }
      const { key, hash, prefix } = newApiKey();
      const row = await db.withOrg(p.orgId, async (tx) => {
        const [created] = await tx
          .insert(apiKeys)
          .values({
            id: uuidv7(),
            organizationId: p.orgId,
            name: request.body.name,
            keyHash: hash,
            prefix,
            scopes: request.body.scopes,
            createdBy: p.userId,
            expiresAt,
          })
          .returning();
        await audit.record(
          tx,
          auditEntry(request, {
            action: 'api_key.created',
            targetType: 'api_key',
            targetId: created!.id,
            metadata: { scopes: request.body.scopes },
          }),
        );
        return created!;
      });
      return reply.code(201).send({ ...toOut(row), key });
    },
  );

  app.get(
    '/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'The organization’s API keys',
        response: { 200: z.object({ data: z.array(keyOut) }) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rows = await db.withOrgRead(orgId, (tx) =>
        tx
          .select()
          .from(apiKeys)
          .where(eq(apiKeys.organizationId, orgId))
          .orderBy(desc(apiKeys.id))
          .limit(200),
      );
      return { data: rows.map(toOut) };
    },
  );

  app.delete(
    '/api-keys/:id',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Revoke an API key, at once', params: idParams },
    },
    async (request, reply) => {
      const p = principalOf(request);
      if (!(await service.revoke(p.orgId, request.params.id))) throw notFound();
      await db.withOrg(p.orgId, (tx) =>
        audit.record(
          tx,
          auditEntry(request, {
            action: 'api_key.revoked',
            targetType: 'api_key',
            targetId: request.params.id,
          }),
        ),
      );
      return reply.code(204).send();
    },
  );
};
