import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditEntry } from '../../audit/request.js';
import { tenantOf } from '../../auth/guard.js';
import type { Tx } from '../../db/client.js';
import { conflictOnDuplicate } from '../../db/errors.js';
import { orNotFound } from '../../http/pages.js';
import { notFound } from '../../security/errors.js';
import { idParams } from '../../http/schemas.js';
import { toPage } from '../../http/pages.js';
import * as repo from './repo.js';
import {
  customerCreate,
  customerListQuery,
  customerOut,
  customerPage,
  customerPatch,
} from './schema.js';

/** Wraps a write so that a duplicate phone in the organization answers 409. */
const uniquePhone = <T>(write: Promise<T>): Promise<T> =>
  conflictOnDuplicate(
    write,
    'customers_org_phone_key',
    'A customer with this phone number already exists',
  );

/**
 * The customers route table: each route's access, schemas and handler in one place.
 * The organization always comes from the verified credential (principal), never the request.
 */
export const customerRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit } = app.ctx;
  const tags = ['customers'];

  app.get(
    '/customers',
    {
      config: { access: 'viewer', scope: 'customers:read' },
      schema: {
        tags,
        summary: 'List customers, newest first',
        querystring: customerListQuery,
        response: { 200: customerPage },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      // A search scans; it gets a connection of its own rather than hold up a shared lane.
      const list = (tx: Tx) => repo.list(tx, orgId, request.query);
      const rows = await (request.query.search
        ? db.withOrgStatement(orgId, list)
        : db.withOrgRead(orgId, list));
      return toPage(rows, request.query.limit);
    },
  );

  app.post(
    '/customers',
    {
      config: { access: 'agent', scope: 'customers:write' },
      schema: {
        tags,
        summary: 'Create a customer',
        body: customerCreate,
        response: { 201: customerOut },
      },
    },
    async (request, reply) => {
      const { orgId } = tenantOf(request);
      const created = await uniquePhone(
        db.withOrg(orgId, async (tx) => {
          const customer = await repo.create(tx, orgId, request.body);
          const target = { targetType: 'customer', targetId: customer.id };
          await audit.record(tx, auditEntry(request, { action: 'customer.created', ...target }));
          return customer;
        }),
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/customers/:id',
    {
      config: { access: 'viewer', scope: 'customers:read' },
      schema: { tags, summary: 'Get a customer', params: idParams, response: { 200: customerOut } },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      return orNotFound(
        await db.withOrgRead(orgId, (tx) => repo.get(tx, orgId, request.params.id)),
      );
    },
  );

  app.patch(
    '/customers/:id',
    {
      config: { access: 'agent', scope: 'customers:write' },
      schema: {
        tags,
        summary: 'Update a customer',
        params: idParams,
        body: customerPatch,
        response: { 200: customerOut },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const updated = await uniquePhone(
        db.withOrg(orgId, async (tx) => {
          const customer = await repo.update(tx, orgId, request.params.id, request.body);
          if (customer) {
            // Which fields changed, never their values: the log is not a copy of the PII.
            const fields = Object.keys(request.body);
            const target = { targetType: 'customer', targetId: customer.id };
            const entry = { action: 'customer.updated', ...target, metadata: { fields } };
            await audit.record(tx, auditEntry(request, entry));
          }
          return customer;
        }),
      );
      return orNotFound(updated);
    },
  );

  app.delete(
    '/customers/:id',
    {
      config: { access: 'agent', scope: 'customers:write' },
      schema: { tags, summary: 'Delete a customer', params: idParams },
    },
    async (request, reply) => {
      const { orgId } = tenantOf(request);
      const deleted = await db.withOrg(orgId, async (tx) => {
        const removed = await repo.remove(tx, orgId, request.params.id);
        if (removed) {
          const target = { targetType: 'customer', targetId: request.params.id };
          await audit.record(tx, auditEntry(request, { action: 'customer.deleted', ...target }));
        }
        return removed;
      });
      if (!deleted) throw notFound();
      return reply.code(204).send();
    },
  );
};
