import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCustomer, registerOrg, type TestApp } from '../helpers/app.js';
import { createChannel, createCommerceChannel } from '../helpers/channels.js';
import { fakeGraph, type FakeGraph } from '../helpers/fake-graph.js';
import { graphApp, send, settled, startThread } from './helpers.js';

let graph: FakeGraph;
let t: TestApp;
beforeAll(async () => {
  graph = await fakeGraph();
  t = await graphApp(graph);
});
afterAll(async () => {
  await t.close();
  await graph.close();
});

const get = (auth: { authorization: string }, url: string) =>
  t.app.inject({ url: `/api/v1${url}`, headers: auth });

describe('conversations', () => {
  it('starts a conversation once per customer and channel: 201, then 200 with the same one', async () => {
    const owner = await registerOrg(t.app);
    const customer = await createCustomer(t.app, owner);
    const channel = await createChannel(t.app, owner);
    const start = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/conversations',
        headers: owner.auth,
        payload: { customerId: customer.id, channelId: channel.id },
      });
    const first = await start();
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      customerId: customer.id,
      channelId: channel.id,
      status: 'open',
      lastMessageAt: null,
    });
    const again = await start();
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
  });

  it('refuses a commerce channel and a deleted channel (404)', async () => {
    const owner = await registerOrg(t.app);
    const customer = await createCustomer(t.app, owner);
    const shop = await createCommerceChannel(t.app, owner);
    const gone = await createChannel(t.app, owner);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/channels/${gone.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    for (const channelId of [shop.id, gone.id]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/conversations',
        headers: owner.auth,
        payload: { customerId: customer.id, channelId },
      });
      expect(res.statusCode, res.body).toBe(404);
    }
  });

  it('lists newest first with keyset pages, filtered by status and customer', async () => {
    const owner = await registerOrg(t.app);
    const a = await startThread(t.app, owner);
    const b = await startThread(t.app, owner);
    const c = await startThread(t.app, owner);
    const page1 = await get(owner.auth, '/conversations?limit=2');
    expect(page1.json().data.map((x: { id: string }) => x.id)).toEqual([
      c.conversationId,
      b.conversationId,
    ]);
    const page2 = await get(owner.auth, `/conversations?limit=2&cursor=${page1.json().nextCursor}`);
    expect(page2.json()).toEqual({
      data: [expect.objectContaining({ id: a.conversationId })],
      nextCursor: null,
    });

    const close = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/conversations/${b.conversationId}`,
      headers: owner.auth,
      payload: { status: 'closed' },
    });
    expect(close.statusCode, close.body).toBe(200);
    expect(close.json().status).toBe('closed');
    const closed = await get(owner.auth, '/conversations?status=closed');
    expect(closed.json().data.map((x: { id: string }) => x.id)).toEqual([b.conversationId]);
    const ofA = await get(owner.auth, `/conversations?customerId=${a.customer.id}`);
    expect(ofA.json().data.map((x: { id: string }) => x.id)).toEqual([a.conversationId]);
    const one = await get(owner.auth, `/conversations/${b.conversationId}`);
    expect(one.json()).toMatchObject({ id: b.conversationId, status: 'closed' });
  });

  it('audits a status change (and not a no-op repeat)', async () => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    for (const status of ['closed', 'closed', 'open']) {
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/v1/conversations/${conversationId}`,
        headers: owner.auth,
        payload: { status },
      });
      expect(res.statusCode).toBe(200);
    }
    const audit = await get(owner.auth, '/audit-logs?limit=100');
    const changes = audit
      .json<{ data: { action: string; metadata: { status?: string } }[] }>()
      .data.filter((r) => r.action === 'conversation.status_changed')
      .map((r) => r.metadata.status);
    expect(changes.sort()).toEqual(['closed', 'open']);
  });

  it('pages messages newest first and never audits or echoes more than the message', async () => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const res = await send(t.app, owner, conversationId, { text });
      expect(res.statusCode).toBe(202);
      ids.push(res.json().id);
    }
    const page1 = await get(owner.auth, `/conversations/${conversationId}/messages?limit=2`);
    expect(page1.json().data.map((m: { text: string }) => m.text)).toEqual(['three', 'two']);
    const page2 = await get(
      owner.auth,
      `/conversations/${conversationId}/messages?limit=2&cursor=${page1.json().nextCursor}`,
    );
    expect(page2.json()).toMatchObject({ data: [{ id: ids[0], text: 'one' }], nextCursor: null });
    for (const id of ids) await settled(t.app, owner, conversationId, id);
    const conv = await get(owner.auth, `/conversations/${conversationId}`);
    expect(conv.json().lastMessageAt).not.toBeNull();
    const audit = await get(owner.auth, '/audit-logs?limit=100');
    expect(audit.body).not.toContain('three');
  });

  it('refuses to send on a deleted channel (409) and queues nothing', async () => {
    const owner = await registerOrg(t.app);
    const { conversationId, channel } = await startThread(t.app, owner);
    await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/channels/${channel.id}`,
      headers: owner.auth,
    });
    const res = await send(t.app, owner, conversationId);
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('conflict');
    const list = await get(owner.auth, `/conversations/${conversationId}/messages`);
    expect(list.json().data).toEqual([]);
  });
});
