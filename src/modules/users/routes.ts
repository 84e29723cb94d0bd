import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParams, userOut } from '../../http/schemas.js';
import { listRoute } from '../list-route.js';
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

  listRoute(app, '/users', {
    config: { access: 'viewer' },
    tags,
    summary: 'List the members of the organization',
    querystring: userListQuery,
    response: userPage,
    read: 'statement',
    list: repo.list,
  });

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
