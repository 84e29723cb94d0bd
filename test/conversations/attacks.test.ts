import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCustomer, registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';
import { fakeGraph, type FakeGraph } from '../helpers/fake-graph.js';
import { addMember, expectProblem } from '../members/members.js';
import { graphApp, send, startThread } from './helpers.js';

let graph: FakeGraph;
let t: TestApp;
beforeAll(async () => {
  graph = await fakeGraph();
  t = await graphApp(graph, { RATE_LIMIT_AUTH_IP_MAX: '100000' });
});
afterAll(async () => {
  await t.close();
  await graph.close();
});

type Method = 'GET' | 'POST' | 'PATCH';
const routes: [string, Method, (id: string) => string, Record<string, unknown> | undefined][] = [
  ['reading', 'GET', (id) => `/api/v1/conversations/${id}`, undefined],
  ['closing', 'PATCH', (id) => `/api/v1/conversations/${id}`, { status: 'closed' }],
  ['listing messages of', 'GET', (id) => `/api/v1/conversations/${id}/messages`, undefined],
  ['sending into', 'POST', (id) => `/api/v1/conversations/${id}/messages`, { text: 'spoofed' }],
];

describe('another organization’s conversation', () => {
  it.each(routes)(
    'refuses %s it exactly as a missing one (404)',
    async (_, method, url, payload) => {
      const victim = await registerOrg(t.app, 'Victim');
      const attacker = await registerOrg(t.app, 'Attacker');
      const { conversationId } = await startThread(t.app, victim);
      const inject = (id: string) =>
        t.app.inject({
          method,
          url: url(id),
          headers: attacker.auth,
          ...(payload ? { payload } : {}),
        });
      const theirs = await inject(conversationId);
      const missing = await inject(randomUUID());
      expectProblem(theirs, 404, 'not_found');
      expect(missing.statusCode).toBe(404);
      const victimView = await t.app.inject({
        url: `/api/v1/conversations/${conversationId}/messages`,
        headers: victim.auth,
      });
      expect(victimView.json().data).toEqual([]);
      const conv = await t.app.inject({
        url: `/api/v1/conversations/${conversationId}`,
        headers: victim.auth,
      });
      expect(conv.json().status).toBe('open');
    },
  );

  it.each([
    ['the victim’s customer on the attacker’s channel', 'customer'],
    ['the attacker’s customer on the victim’s channel', 'channel'],
  ])('refuses to start a conversation with %s (404)', async (_, stolen) => {
    const victim = await registerOrg(t.app, 'Victim');
    const attacker = await registerOrg(t.app, 'Attacker');
    const theirs = {
      customer: await createCustomer(t.app, victim),
      channel: await createChannel(t.app, victim),
    };
    const own = {
      customer: await createCustomer(t.app, attacker),
      channel: await createChannel(t.app, attacker),
    };
    const payload =
      stolen === 'customer'
        ? { customerId: theirs.customer.id, channelId: own.channel.id }
        : { customerId: own.customer.id, channelId: theirs.channel.id };
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/conversations',
      headers: attacker.auth,
      payload,
    });
    expectProblem(res, 404, 'not_found');
  });

  it('does not list another organization’s conversations, even filtered by its customer id', async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const attacker = await registerOrg(t.app, 'Attacker');
    const { customer } = await startThread(t.app, victim);
    const res = await t.app.inject({
      url: `/api/v1/conversations?customerId=${customer.id}`,
      headers: attacker.auth,
    });
    expect(res.json()).toEqual({ data: [], nextCursor: null });
  });
});

describe('who may send', () => {
  it('lets a viewer read but not send or close (403)', async () => {
    const owner = await registerOrg(t.app);
    const viewer = await addMember(t.app, owner, 'viewer');
    const { conversationId } = await startThread(t.app, owner);
    expect(
      (
        await t.app.inject({
          url: `/api/v1/conversations/${conversationId}/messages`,
          headers: viewer.auth,
        })
      ).statusCode,
    ).toBe(200);
    expectProblem(await send(t.app, viewer, conversationId), 403, 'forbidden');
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/conversations/${conversationId}`,
      headers: viewer.auth,
      payload: { status: 'closed' },
    });
    expectProblem(patch, 403, 'forbidden');
  });

  it('lets an agent send', async () => {
    const owner = await registerOrg(t.app);
    const agent = await addMember(t.app, owner, 'agent');
    const { conversationId } = await startThread(t.app, owner);
    const res = await send(t.app, agent, conversationId);
    expect(res.statusCode).toBe(202);
    expect(res.json().sentBy).toBe(agent.userId);
  });

  it.each([
    ['conversations:read', 403],
    ['customers:write', 403],
    ['conversations:write', 202],
  ] as const)('an API key with %s sending -> %i', async (scope, status) => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    const made = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: owner.auth,
      payload: { name: 'bot', scopes: [scope] },
    });
    const key = { auth: { authorization: `Bearer ${made.json().key}` } };
    const res = await send(t.app, key, conversationId);
    if (status === 403) expectProblem(res, 403, 'insufficient_scope');
    else expect(res.statusCode).toBe(202);
  });
});

describe('send limits and validation', () => {
  it('answers 429 after RATE_LIMIT_SEND_MAX messages a minute from one user', async () => {
    const limited = await testApp({ WHATSAPP_GRAPH_URL: graph.url, RATE_LIMIT_SEND_MAX: '2' });
    try {
      const owner = await registerOrg(limited.app);
      const { conversationId } = await startThread(limited.app, owner);
      expect((await send(limited.app, owner, conversationId)).statusCode).toBe(202);
      expect((await send(limited.app, owner, conversationId)).statusCode).toBe(202);
      const third = await send(limited.app, owner, conversationId);
      expectProblem(third, 429, 'rate_limited');
      expect(third.headers['retry-after']).toBeDefined();
      // Reading is not sending: the conversation still answers.
      expect(
        (
          await limited.app.inject({
            url: `/api/v1/conversations/${conversationId}`,
            headers: owner.auth,
          })
        ).statusCode,
      ).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('counts sends through API keys against the member who made them (more keys, no more sends)', async () => {
    const limited = await testApp({ WHATSAPP_GRAPH_URL: graph.url, RATE_LIMIT_SEND_MAX: '2' });
    try {
      const owner = await registerOrg(limited.app);
      const { conversationId } = await startThread(limited.app, owner);
      const keys = [];
      for (const name of ['bot-1', 'bot-2', 'bot-3']) {
        const made = await limited.app.inject({
          method: 'POST',
          url: '/api/v1/api-keys',
          headers: owner.auth,
          payload: { name, scopes: ['conversations:write'] },
        });
        keys.push({ auth: { authorization: `Bearer ${made.json<{ key: string }>().key}` } });
      }
      const statuses = [];
      for (const key of keys)
        statuses.push((await send(limited.app, key, conversationId)).statusCode);
      expect(statuses).toEqual([202, 202, 429]);
      expectProblem(await send(limited.app, owner, conversationId), 429, 'rate_limited');
    } finally {
      await limited.close();
    }
  });

  it.each([
    ['an empty text', { text: '' }],
    ['a blank text', { text: ' \n\t ' }],
    ['a text over 4096 characters', { text: 'x'.repeat(4097) }],
    ['a text with a NUL byte', { text: 'hi\u0000there' }],
    ['a text with an escape sequence', { text: 'hi\u001b[2Jthere' }],
    ['a number for text', { text: 42 }],
    ['no text', {}],
    ['an unknown key', { text: 'hi', status: 'sent' }],
    ['a forged organization', { text: 'hi', organizationId: randomUUID() }],
  ])('refuses %s (400)', async (_, payload) => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    expectProblem(await send(t.app, owner, conversationId, payload), 400, 'validation_failed');
  });

  it('accepts exactly 4096 characters with line breaks', async () => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    const text = `line one\r\n${'y'.repeat(4086)}`;
    const res = await send(t.app, owner, conversationId, { text });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().text).toBe(text);
  });

  it.each([
    ['a malformed customer id', { customerId: 'nope', channelId: randomUUID() }],
    ['an unknown key', { customerId: randomUUID(), channelId: randomUUID(), status: 'open' }],
    ['a missing channel', { customerId: randomUUID() }],
  ])('refuses to start a conversation with %s (400)', async (_, payload) => {
    const owner = await registerOrg(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/conversations',
      headers: owner.auth,
      payload,
    });
    expectProblem(res, 400, 'validation_failed');
  });

  it.each([
    ['an unknown status', { status: 'archived' }],
    ['an extra key', { status: 'closed', customerId: randomUUID() }],
  ])('refuses a status change with %s (400)', async (_, payload) => {
    const owner = await registerOrg(t.app);
    const { conversationId } = await startThread(t.app, owner);
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/conversations/${conversationId}`,
      headers: owner.auth,
      payload,
    });
    expectProblem(res, 400, 'validation_failed');
  });
});
