import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditEntry } from '../../audit/request.js';
import { tenantOf } from '../../auth/guard.js';
import { conflictOnDuplicate } from '../../db/errors.js';
import { notFound } from '../../security/errors.js';
import { orNotFound } from '../../http/pages.js';
import { idParams } from '../../http/schemas.js';
import { listRoute } from '../list-route.js';
import * as repo from './repo.js';
import { channelCreate, channelListQuery, channelOut, channelPage } from './schema.js';

/**
 * Channels (CONTRACT section 7), admins only: a WhatsApp Cloud API number or a commerce
 * store. Credentials go in encrypted and never come back out.
 */
export const channelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit, keyring, config, webhookChannels } = app.ctx;
  const tags = ['channels'];
  const publicUrl = config.publicUrl;

  app.post(
    '/channels',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Connect a channel',
        body: channelCreate,
        response: { 201: channelOut },
      },
    },
    async (request, reply) => {
      const { orgId } = tenantOf(request);
      const write = db.withOrg(orgId, async (tx) => {
        const actor = request.principal?.userId ?? null;
        const channel = await repo.create(tx, keyring, publicUrl, orgId, actor, request.body);
        const target = { targetType: 'channel', targetId: channel.id };
        const metadata = { type: channel.type, name: channel.name };
        await audit.record(
          tx,
          auditEntry(request, { action: 'channel.created', ...target, metadata }),
        );
        return channel;
      });
      const created = await conflictOnDuplicate(
        write,
        'channels_org_phone_key',
        'A channel with this phone number id already exists',
      );
      return reply.code(201).send(created);
    },
  );

  listRoute(app, '/channels', {
    config: { access: 'admin' },
    tags,
    summary: 'List channels',
    querystring: channelListQuery,
    response: channelPage,
    read: 'lane',
    list: (tx, orgId, query) => repo.list(tx, publicUrl, orgId, query),
  });

  app.get(
    '/channels/:id',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Get a channel', params: idParams, response: { 200: channelOut } },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      return orNotFound(
        await db.withOrgRead(orgId, (tx) => repo.get(tx, publicUrl, orgId, request.params.id)),
      );
    },
  );

  app.delete(
    '/channels/:id',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Delete a channel and erase its credentials', params: idParams },
    },
    async (request, reply) => {
      const { orgId } = tenantOf(request);
      const id = request.params.id;
      const removed = await db.withOrg(orgId, async (tx) => {
        const row = await repo.remove(tx, orgId, id);
        if (row) {
          const entry = { action: 'channel.deleted', targetType: 'channel', targetId: id };
          await audit.record(tx, auditEntry(request, { ...entry, metadata: { type: row.type } }));
        }
        return row;
      });
      if (!removed) throw notFound();
      // Every instance forgets the cached secrets now, not when the cache entry expires.
      await webhookChannels.invalidate(id);
      return reply.code(204).send();
    },
  );
};
