import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { auditEntry } from '../../audit/request.js';
import { tenantOf } from '../../auth/guard.js';
import { AppError, notFound } from '../../security/errors.js';
import { SEND } from '../../security/rate-limit.js';
import { idParams, listQuery } from '../../http/schemas.js';
import { orNotFound, toPage } from '../../http/pages.js';
import * as repo from './repo.js';
import {
  conversationCreate,
  conversationListQuery,
  conversationOut,
  conversationPage,
  conversationPatch,
  messageCreate,
  messageOut,
  messagePage,
} from './schema.js';

/**
 * The conversations route table. The organization comes from the verified credential;
 * customer and channel ids in a body are looked up within it, so another organization's
 * ids are simply not found. Sending only queues: the WhatsApp worker does the rest.
 */
export const conversationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, audit, realtime, outbox } = app.ctx;
  const tags = ['conversations'];
  const read = { access: 'viewer', scope: 'conversations:read' } as const;
  const write = { access: 'agent', scope: 'conversations:write' } as const;

  app.get(
    '/conversations',
    {
      config: read,
      schema: {
        tags,
        summary: 'List conversations, newest first',
        querystring: conversationListQuery,
        response: { 200: conversationPage },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const rows = await db.withOrgRead(orgId, (tx) => repo.list(tx, orgId, request.query));
      return toPage(rows, request.query.limit);
    },
  );

  app.post(
    '/conversations',
    {
      config: write,
      schema: {
        tags,
        summary: 'Start (or find) the conversation of a customer on a WhatsApp channel',
        body: conversationCreate,
        response: { 200: conversationOut, 201: conversationOut },
      },
    },
    async (request, reply) => {
      const { orgId } = tenantOf(request);
      const { customerId, channelId } = request.body;
      const result = await db.withOrg(orgId, async (tx) => {
        const found = await repo.canConverse(tx, orgId, customerId, channelId);
        if (!found.customer) throw new AppError('not_found', 'No such customer');
        if (!found.channel) throw new AppError('not_found', 'No such WhatsApp channel');
        const made = await repo.findOrCreate(tx, orgId, customerId, channelId);
        if (made.created) {
          const target = { targetType: 'conversation', targetId: made.conversation.id };
          await audit.record(
            tx,
            auditEntry(request, { action: 'conversation.created', ...target }),
          );
        }
        return made;
      });
      if (result.created)
        realtime.publish(orgId, { type: 'conversation.created', data: result.conversation });
      return reply.code(result.created ? 201 : 200).send(result.conversation);
    },
  );

  app.get(
    '/conversations/:id',
    {
      config: read,
      schema: {
        tags,
        summary: 'Get a conversation',
        params: idParams,
        response: { 200: conversationOut },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      return orNotFound(
        await db.withOrgRead(orgId, (tx) => repo.get(tx, orgId, request.params.id)),
      );
    },
  );

  app.patch(
    '/conversations/:id',
    {
      config: write,
      schema: {
        tags,
        summary: 'Open or close a conversation',
        params: idParams,
        body: conversationPatch,
        response: { 200: conversationOut },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const result = await db.withOrg(orgId, async (tx) => {
        const set = await repo.setStatus(tx, orgId, request.params.id, request.body.status);
        if (set?.changed) {
          const target = { targetType: 'conversation', targetId: set.conversation.id };
          const metadata = { status: set.conversation.status };
          await audit.record(
            tx,
            auditEntry(request, { action: 'conversation.status_changed', ...target, metadata }),
          );
        }
        return set;
      });
      if (!result) throw notFound();
      if (result.changed)
        realtime.publish(orgId, { type: 'conversation.updated', data: result.conversation });
      return result.conversation;
    },
  );

  app.get(
    '/conversations/:id/messages',
    {
      config: read,
      schema: {
        tags,
        summary: 'List a conversation’s messages, newest first',
        params: idParams,
        querystring: listQuery,
        response: { 200: messagePage },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const { id } = request.params;
      const rows = await db.withOrg(orgId, async (tx) =>
        (await repo.get(tx, orgId, id)) ? repo.listMessages(tx, orgId, id, request.query) : null,
      );
      if (!rows) throw notFound();
      return toPage(rows, request.query.limit);
    },
  );

  app.post(
    '/conversations/:id/messages',
    {
      // SEND: RATE_LIMIT_SEND_MAX per minute per member (their API keys included), on top of
      // the general limit: a stolen session must not turn the organization's number into a
      // spam cannon.
      config: { ...write, rateLimit: SEND },
      schema: {
        tags,
        summary: 'Queue a text message to the customer',
        params: idParams,
        body: messageCreate,
        response: { 202: messageOut },
      },
    },
    async (request, reply) => {
      const { orgId, actorId } = tenantOf(request);
      const { id } = request.params;
      const message = await db.withOrg(orgId, async (tx) => {
        const channel = await repo.sendableChannel(tx, orgId, id);
        if (!channel) throw notFound();
        if (channel.deleted)
          throw new AppError('conflict', 'The conversation’s channel was deleted');
        return repo.queueText(tx, orgId, id, channel.channelId, actorId, request.body.text);
      });
      realtime.publish(orgId, { type: 'message.created', data: message });
      // Committed first: if the queue is down, the sweeper finds the row and sends it later.
      outbox
        .enqueue({ orgId, messageId: message.id, attempt: 0 })
        .catch((err: unknown) =>
          request.log.warn(
            { err, messageId: message.id },
            'message not enqueued; the sweeper will',
          ),
        );
      return reply.code(202).send(message);
    },
  );
};
