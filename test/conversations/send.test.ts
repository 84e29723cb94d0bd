import { and, eq } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messages } from '../../src/db/schema/whatsapp.js';
import { newPhone, registerOrg, type Member, type TestApp } from '../helpers/app.js';
import { fakeGraph, type FakeGraph } from '../helpers/fake-graph.js';
import { graphApp, messageOf, send, settled, startThread, type Thread } from './helpers.js';

let graph: FakeGraph;
let t: TestApp | undefined;
beforeEach(async () => {
  graph = await fakeGraph();
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  await graph.close();
});

async function setup(env: Record<string, string> = {}) {
  t = await graphApp(graph, env);
  const owner = await registerOrg(t.app);
  return { app: t.app, owner, thread: await startThread(t.app, owner) };
}

async function sendAndSettle(app: TestApp['app'], owner: Member, thread: Thread, text: string) {
  const res = await send(app, owner, thread.conversationId, { text });
  expect(res.statusCode, res.body).toBe(202);
  return settled(app, owner, thread.conversationId, res.json<{ id: string }>().id);
}

describe('sending a WhatsApp message', () => {
  it('queues it (202), then sends Meta the documented request with the channel token', async () => {
    const { app, owner, thread } = await setup();
    const text = 'Your order #1042 has shipped.\nThanks!';
    const res = await send(app, owner, thread.conversationId, { text });
    expect(res.statusCode, res.body).toBe(202);
    const queued = res.json<{ id: string; status: string }>();
    expect(queued).toMatchObject({
      conversationId: thread.conversationId,
      channelId: thread.channel.id,
      direction: 'outbound',
      type: 'text',
      text,
      status: 'queued',
      sentBy: owner.userId,
      waMessageId: null,
    });

    const [request] = await graph.received(1);
    expect(request).toMatchObject({
      method: 'POST',
      path: `/v23.0/${thread.channel.phoneNumberId}/messages`,
      body: {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: thread.customer.phone.slice(1),
        type: 'text',
        text: { preview_url: false, body: text },
      },
    });
    expect(request!.headers.authorization).toBe(`Bearer ${thread.channel.accessToken}`);
    expect(request!.headers['content-type']).toMatch(/^application\/json/);

    const sent = await settled(app, owner, thread.conversationId, queued.id);
    expect(sent).toMatchObject({ status: 'sent', error: null });
    expect(sent.waMessageId).toMatch(/^wamid\./);
  });

  it.each([
    ['a 429 rate limit', ['rate_limited'] as const],
    [
      "Meta's throughput limit, answered as a 400 with code 130429",
      ['throughput_reached'] as const,
    ],
    ['a 500 then a 503', ['server_error', 'unavailable'] as const],
    ['a dropped connection', ['drop'] as const],
  ])('retries after %s and then sends', async (_, failures) => {
    graph.script(...failures);
    const { app, owner, thread } = await setup();
    const sent = await sendAndSettle(app, owner, thread, 'Retry me');
    expect(sent).toMatchObject({ status: 'sent', error: null });
    expect(graph.requests).toHaveLength(failures.length + 1);
    const bodies = graph.requests.map((r) => JSON.stringify(r.body));
    expect(new Set(bodies).size).toBe(1);
  });

  it("sends to the number it was queued for, even if the customer's phone changes meanwhile", async () => {
    graph.script('server_error');
    // A retry slow enough for the edit to land before it.
    const { app, owner, thread } = await setup({ WHATSAPP_RETRY_BASE_MS: '2000' });
    const res = await send(app, owner, thread.conversationId, { text: 'Addressed now' });
    expect(res.statusCode, res.body).toBe(202);
    await graph.received(1);
    const edit = await app.inject({
      method: 'PATCH',
      url: `/api/v1/customers/${thread.customer.id}`,
      headers: owner.auth,
      payload: { phone: newPhone() },
    });
    expect(edit.statusCode, edit.body).toBe(200);
    const sent = await settled(app, owner, thread.conversationId, res.json<{ id: string }>().id);
    expect(sent.status).toBe('sent');
    const requests = await graph.received(2);
    expect(requests.map((r) => (r.body as { to: string }).to)).toEqual([
      thread.customer.phone.slice(1),
      thread.customer.phone.slice(1),
    ]);
  });

  it('gives up after WHATSAPP_SEND_ATTEMPTS server errors and marks the message failed', async () => {
    graph.always('server_error');
    const { app, owner, thread } = await setup({ WHATSAPP_SEND_ATTEMPTS: '3' });
    const failed = await sendAndSettle(app, owner, thread, 'Never arrives');
    expect(failed).toMatchObject({ status: 'failed', waMessageId: null });
    expect(failed.error).toMatchObject({ code: 1 });
    expect(graph.requests).toHaveLength(3);
  });

  it.each([
    ['recipient not in the allowed list (400)', 'not_allowed', 131030, /131030/],
    ['an invalid access token (401)', 'invalid_token', 190, /access token/],
  ] as const)('fails at once, without retrying, on %s', async (_, reply, code, message) => {
    graph.always(reply);
    const { app, owner, thread } = await setup();
    const failed = await sendAndSettle(app, owner, thread, 'Refused');
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ code, message: expect.stringMatching(message) });
    expect(JSON.stringify(failed)).not.toContain(thread.channel.accessToken);
    expect(graph.requests).toHaveLength(1);
  });

  it('keeps a delivered/read status that a webhook wrote before the worker recorded "sent"', async () => {
    const { app, owner, thread } = await setup();
    const db = t!.db;
    graph.beforeReply(async () => {
      await db.withOrg(owner.orgId, (tx) =>
        tx
          .update(messages)
          .set({ status: 'read' })
          .where(
            and(
              eq(messages.organizationId, owner.orgId),
              eq(messages.conversationId, thread.conversationId),
            ),
          ),
      );
    });
    const res = await send(app, owner, thread.conversationId, { text: 'Fast reader' });
    const id = res.json<{ id: string }>().id;
    await graph.received(1);
    // The worker's write lands (the wamid) without moving the status back to sent.
    let m = await messageOf(app, owner, thread.conversationId, id);
    while (!m.waMessageId) {
      await new Promise((r) => setTimeout(r, 15));
      m = await messageOf(app, owner, thread.conversationId, id);
    }
    expect(m.status).toBe('read');
  });
});
