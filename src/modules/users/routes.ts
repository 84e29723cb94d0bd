import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { principalOf } from '../../auth/guard.js';
import { idParams, toPage, userOut } from '../shared.js';
import * as repo from './repo.js';
import { userCreate, userListQuery, userPage, userPatch } from './schema.js';
import { actorOf, createMember, deleteMember, updateMember } from './service.js';

/**
 * The members route table (/users). Any member may see who is in the organization; only
 * admins manage members, and the rank rules of ./rules.ts stop them at their own rank:
 * only an owner makes, changes or removes an owner, and the last owner stays.
 * The organization always comes from the verified credential, never the request.
 */
export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  const { ctx } = app;
  const tags = ['users'];

  app.get(
    '/users',
    {
      config: { access: 'viewer' },
      schema: {
        tags,
        summary: 'List the members of the organization',
        querystring: userListQuery,
        response: { 200: userPage },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rows = await ctx.db.withOrgStatement(orgId, (tx) =>
        repo.list(tx, orgId, request.query),
      );
      return toPage(rows, request.query.limit);
    },
  );

  app.post(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'Add a member (an owner only by an owner)',
        body: userCreate,
        response: { 201: userOut },
      },
    },
    async (request, reply) => {
      const created = await createMember(ctx, actorOf(request), request.body);
      return reply.code(201).send(created);
    },
  );

  app.patch(
    '/users/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: "Change a member's email, name, role or password",
        params: idParams,
        body: userPatch,
        response: { 200: userOut },
      },
    },
    async (request) => updateMember(ctx, actorOf(request), request.params.id, request.body),
  );

  app.delete(
    '/users/:id',
    {
      config: { access: 'admin' },
      schema: { tags, summary: 'Remove a member and end their sessions', params: idParams },
    },
    async (request, reply) => {
      await deleteMember(ctx, actorOf(request), request.params.id);
      return reply.code(204).send();
    },
  );
};
