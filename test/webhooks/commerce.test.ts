import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { newPhone, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, createCommerceChannel } from '../helpers/channels.js';
import { deliverWoo, wooOrder, wooSign, type WooDelivery } from '../helpers/commerce.js';

/** CONTRACT section 7: WooCommerce webhooks, signed base64(HMAC-SHA256(secret, raw body)). */
let t: TestApp;
let owner: Member;
let shop: { id: string; secret: string };

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Shop');
  shop = await createCommerceChannel(t.app, owner);
});
afterAll(() => t.close());

const sign = wooSign;
type Send = WooDelivery;
const deliver = (s: Send) => deliverWoo(t.app, shop, s);

/** "+1 (555) 123-45678" as a shopper would type it. */
const typed = (p: string) => `${p.slice(0, 2)} (${p.slice(2, 5)}) ${p.slice(5, 8)}-${p.slice(8)}`;

const api = (url: string, m: Member = owner) =>
  t.app.inject({ url: `/api/v1${url}`, headers: m.auth });

const customerByPhone = async (phone: string) => {
  const res = await api(`/customers?search=${encodeURIComponent(phone)}`);
  return res.json<{ data: { id: string; name: string; phone: string; email: string | null }[] }>()
    .data;
};
const timeline = async (customerId: string) =>
  (await api(`/customers/${customerId}/timeline`)).json<{ data: Record<string, unknown>[] }>().data;
const logRow = async (requestId: string) => {
  const res = await api(`/webhook-logs?channelId=${shop.id}&limit=100`);
  return res
    .json<{ data: Record<string, unknown>[] }>()
    .data.find((r) => r.requestId === requestId);
};

describe('commerce webhook: signature attacks', () => {
  const cases: [string, (body: string) => Send][] = [
    ['with no signature header', (body) => ({ body, signature: null })],
    ['signed with another secret', (body) => ({ body, signature: sign('not-the-secret', body) })],
    [
      'with a hex digest instead of base64',
      (body) => ({ body, signature: sign(shop.secret, body, 'sha256', 'hex') }),
    ],
    [
      'with an unpadded base64url digest',
      (body) => ({ body, signature: sign(shop.secret, body, 'sha256', 'base64url') }),
    ],
    ['with HMAC-SHA1', (body) => ({ body, signature: sign(shop.secret, body, 'sha1') })],
    [
      'with a duplicated signature header',
      (body) => ({ body, signature: [sign(shop.secret, body), sign(shop.secret, body)] }),
    ],
    [
      'with one byte of the body flipped',
      (body) => {
        const bytes = Buffer.from(body);
        bytes[bytes.length - 2]! ^= 0x01;
        return { body: bytes, signature: sign(shop.secret, body) };
      },
    ],
    [
      're-serialized after signing',
      (body) => ({
        body: JSON.stringify(JSON.parse(body), null, 2),
        signature: sign(shop.secret, body),
      }),
    ],
  ];

  it.each(cases)('refuses a delivery %s: 403, nothing written, logged', async (_name, make) => {
    const phone = newPhone();
    const res = await deliver({
      topic: 'order.created',
      ...make(JSON.stringify(wooOrder(phone))),
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().code).toBe('invalid_signature');
    expect(await customerByPhone(phone)).toEqual([]);
    const requestId = String(res.headers['x-request-id']);

    const events = await api('/security-events?type=webhook_signature_invalid&limit=100');
    const event = events
      .json<{ data: { requestId: string; metadata: Record<string, unknown> }[] }>()
      .data.find((e) => e.requestId === requestId);
    expect(event?.metadata).toMatchObject({ channelId: shop.id, source: 'commerce' });
    expect(await logRow(requestId)).toMatchObject({
      outcome: 'invalid_signature',
      statusCode: 403,
      topic: 'order.created',
    });
  });

  it('keeps no body of a refused delivery', async () => {
    const res = await deliver({
      topic: 'order.created',
      body: JSON.stringify(wooOrder(newPhone())),
      signature: null,
    });
    const [row] = await t.db.withOrg(owner.orgId, (tx) =>
      rows<{ body: Buffer | null }>(
        tx,
        sql`select body from webhook_deliveries where request_id = ${String(res.headers['x-request-id'])}`,
      ),
    );
    expect(row).toEqual({ body: null });
  });
});

describe('commerce webhook: orders', () => {
  it('creates the customer from order.created and puts the order on its timeline, nothing more', async () => {
    const phone = newPhone();
    const order = wooOrder(typed(phone));
    const res = await deliver({ topic: 'order.created', body: JSON.stringify(order) });
    expect(res.statusCode).toBe(200);
    const [customer, ...more] = await customerByPhone(phone);
    expect(more).toEqual([]);
    expect(customer).toMatchObject({ name: 'Ana Souza', phone, email: 'ana.souza@example.test' });
    const events = await timeline(customer!.id);
    expect(events).toEqual([
      {
        id: expect.any(String),
        type: 'order.created',
        occurredAt: '2026-11-20T16:28:02.000Z',
        channelId: shop.id,
        data: {
          orderId: order.id,
          number: '7001',
          status: 'processing',
          currency: 'EUR',
          total: '42.50',
        },
      },
    ]);
    expect(JSON.stringify(events)).not.toMatch(/Secret Street|kettle/);
    expect(await logRow(String(res.headers['x-request-id']))).toMatchObject({
      outcome: 'processed',
      statusCode: 200,
    });
  });

  it('updates the same customer on order.updated (another spelling of the phone) and adds an event', async () => {
    const phone = newPhone();
    const order = wooOrder(phone);
    await deliver({ topic: 'order.created', body: JSON.stringify(order) });
    const updated = {
      ...order,
      status: 'completed',
      date_modified_gmt: '2026-11-21T09:00:00',
      billing: { ...order.billing, phone: `00${phone.slice(1)}`, first_name: 'Ana Maria' },
    };
    const res = await deliver({ topic: 'order.updated', body: JSON.stringify(updated) });
    expect(res.statusCode).toBe(200);
    const found = await customerByPhone(phone);
    expect(found).toHaveLength(1);
    // The store fills gaps only: the name already on file stays.
    expect(found[0]!.name).toBe('Ana Souza');
    const events = await timeline(found[0]!.id);
    expect(
      events.map((e) => [e.type, (e.data as { status: string }).status, e.occurredAt]),
    ).toEqual([
      ['order.updated', 'completed', '2026-11-21T09:00:00.000Z'],
      ['order.created', 'processing', '2026-11-20T16:28:02.000Z'],
    ]);
  });

  it.each([
    ['the same delivery id', (id: string) => id, 'order.created'],
    [
      'a new delivery id (the header is not signed)',
      () => randomBytes(16).toString('hex'),
      'order.created',
    ],
    [
      'the other topic (the topic header is not signed either)',
      (id: string) => id,
      'order.updated',
    ],
  ])('adds nothing when a delivery is replayed with %s', async (_name, replayId, topic) => {
    const phone = newPhone();
    const body = JSON.stringify(wooOrder(phone));
    const deliveryId = randomBytes(16).toString('hex');
    expect((await deliver({ topic: 'order.created', body, deliveryId })).statusCode).toBe(200);
    const again = await deliver({ topic, body, deliveryId: replayId(deliveryId) });
    expect(again.statusCode).toBe(200);
    const [customer] = await customerByPhone(phone);
    expect(await timeline(customer!.id)).toHaveLength(1);
    expect(await logRow(String(again.headers['x-request-id']))).toMatchObject({
      outcome: 'dropped',
    });
  });

  it.each([
    ['no country code', '(555) 123-4567'],
    ['no phone at all', ''],
    ['letters', '+1 555 CALL NOW'],
  ])(
    'drops an order whose billing phone has %s, with a reason in the log',
    async (_name, phone) => {
      const before = await t.db.withOrg(owner.orgId, (tx) =>
        rows<{ n: number }>(tx, sql`select count(*)::int as n from customers`),
      );
      const res = await deliver({ topic: 'order.created', body: JSON.stringify(wooOrder(phone)) });
      expect(res.statusCode).toBe(200);
      const after = await t.db.withOrg(owner.orgId, (tx) =>
        rows<{ n: number }>(tx, sql`select count(*)::int as n from customers`),
      );
      expect(after).toEqual(before);
      const row = await logRow(String(res.headers['x-request-id']));
      expect(row).toMatchObject({
        outcome: 'dropped',
        detail: expect.stringMatching(/country code/),
      });
    },
  );

  it('acknowledges topics it does not handle and logs them as dropped', async () => {
    const res = await deliver({
      topic: 'product.updated',
      body: JSON.stringify({ id: 5, name: 'Kettle' }),
    });
    expect(res.statusCode).toBe(200);
    expect(await logRow(String(res.headers['x-request-id']))).toMatchObject({
      outcome: 'dropped',
      topic: 'product.updated',
    });
  });

  it.each([
    ['signed', undefined],
    ['unsigned, as WooCommerce sends it', null],
  ])('accepts the creation ping (%s)', async (_name, signature) => {
    const body = 'webhook_id=12';
    const res = await deliver({
      body,
      signature,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(200);
    expect(await logRow(String(res.headers['x-request-id']))).toMatchObject({
      outcome: 'dropped',
      topic: null,
    });
  });

  it('refuses a ping carrying a wrong signature', async () => {
    const res = await deliver({
      body: 'webhook_id=12',
      signature: sign('wrong', 'webhook_id=12'),
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(403);
  });

  it('takes bodies up to 3 MiB and refuses 3.5 MiB with 413', async () => {
    const big = (n: number) => JSON.stringify({ id: 1, pad: 'x'.repeat(n) });
    const ok = await deliver({ topic: 'product.updated', body: big(2.5 * 1024 * 1024) });
    expect(ok.statusCode).toBe(200);
    const res = await deliver({ topic: 'order.created', body: big(3.5 * 1024 * 1024) });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('answers 404 for an unknown channel or a WhatsApp channel, 400 for a malformed id', async () => {
    const wa = await createChannel(t.app, owner);
    for (const channelId of [randomUUID(), wa.id]) {
      const res = await deliver({ topic: 'order.created', body: '{}', channelId });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect(
      (await deliver({ topic: 'order.created', body: '{}', channelId: 'nope' })).statusCode,
    ).toBe(400);
  });

  it('stops accepting deliveries once the channel is deleted', async () => {
    const gone = await createCommerceChannel(t.app, owner);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/channels/${gone.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    const body = JSON.stringify(wooOrder(newPhone()));
    const res = await deliver({
      topic: 'order.created',
      body,
      channelId: gone.id,
      signature: sign(gone.secret, body),
    });
    expect(res.statusCode).toBe(404);
  });
});
