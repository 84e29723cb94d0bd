import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { MessageOut } from '../../src/modules/conversations/schema.js';
import { createCustomer, newPhone, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import type { FakeGraph } from '../helpers/fake-graph.js';

/** An app whose worker talks to the fake Graph API, retrying after a few milliseconds. */
export const graphApp = (graph: FakeGraph, env: Record<string, string> = {}): Promise<TestApp> =>
  testApp({ WHATSAPP_GRAPH_URL: graph.url, WHATSAPP_RETRY_BASE_MS: '20', ...env });

export interface Thread {
  conversationId: string;
  customer: { id: string; phone: string };
  channel: WhatsappChannel;
}

/** A customer, a WhatsApp channel and their conversation, made through the API. */
export async function startThread(app: FastifyInstance, owner: Member): Promise<Thread> {
  const customer = await createCustomer(app, owner, { phone: newPhone() });
  const channel = await createChannel(app, owner);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/conversations',
    headers: owner.auth,
    payload: { customerId: customer.id, channelId: channel.id },
  });
  expect(res.statusCode, res.body).toBe(201);
  return { conversationId: res.json<{ id: string }>().id, customer, channel };
}

export const send = (
  app: FastifyInstance,
  member: { auth: { authorization: string } },
  conversationId: string,
  payload: unknown = { text: 'Hello from Bastion' },
) =>
  app.inject({
    method: 'POST',
    url: `/api/v1/conversations/${conversationId}/messages`,
    headers: member.auth,
    payload: payload as Record<string, unknown>,
  });

export async function messageOf(
  app: FastifyInstance,
  member: Member,
  conversationId: string,
  id: string,
): Promise<MessageOut> {
  const res = await app.inject({
    url: `/api/v1/conversations/${conversationId}/messages?limit=100`,
    headers: member.auth,
  });
  expect(res.statusCode, res.body).toBe(200);
  const found = res.json<{ data: MessageOut[] }>().data.find((m) => m.id === id);
  if (!found) throw new Error(`message ${id} not listed`);
  return found;
}

/**
 * Polls through the API until the message reaches one of `statuses`; the test's timeout
 * bounds the wait (the worker runs on its own schedule, so there is no event to await).
 */
export async function settled(
  app: FastifyInstance,
  member: Member,
  conversationId: string,
  id: string,
  statuses: MessageOut['status'][] = ['sent', 'failed'],
): Promise<MessageOut> {
  for (;;) {
    const m = await messageOf(app, member, conversationId, id);
    if (statuses.includes(m.status)) return m;
    await new Promise((r) => setTimeout(r, 15));
  }
}
