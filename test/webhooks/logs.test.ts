import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordDelivery } from '../../src/webhooks/deliveries.js';
import { newPhone, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createCommerceChannel } from '../helpers/channels.js';
import { addMember } from '../members/members.js';

/**
 * The customer timeline and the webhook log are tenant data: a second organization (the
 * attacker) sees neither, and the log is for admins only and never shows a body.
 */
let t: TestApp;
let owner: Member;
let attacker: Member;
let shop: { id: string; secret: string };
let attackerShop: { id: string; secret: string };
let customerId: string;

const order = (phone: string) =>
  JSON.stringify({
    id: 91,
    number: '91',
    status: 'processing',
    currency: 'USD',
    total: '10.00',
    date_created_gmt: '2026-11-20T10:00:00',
    billing: { first_name: 'Lee', last_name: 'Park', email: 'lee@example.test', phone },
  });

const deliver = (ch: { id: string; secret: string }, body: string, signature?: string) =>
  t.app.inject({
    method: 'POST',
    url: `/webhooks/commerce/${ch.id}`,
    headers: {
      'content-type': 'application/json',
      'x-wc-webhook-topic': 'order.created',
      'x-wc-webhook-signature':
        signature ?? createHmac('sha256', ch.secret).update(body).digest('base64'),
    },
    payload: body,
  });

const get = (url: string, m: Member) => t.app.inject({ url: `/api/v1${url}`, headers: m.auth });

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Shop');
  attacker = await registerOrg(t.app, 'Attacker');
  shop = await createCommerceChannel(t.app, owner);
  attackerShop = await createCommerceChannel(t.app, attacker);
  const phone = newPhone();
  expect((await deliver(shop, order(phone))).statusCode).toBe(200);
  expect((await deliver(shop, order(phone), 'AAAA')).statusCode).toBe(403);
  expect((await deliver(attackerShop, order(newPhone()))).statusCode).toBe(200);
  const found = await get(`/customers?search=${encodeURIComponent(phone)}`, owner);
  customerId = found.json<{ data: { id: string }[] }>().data[0]!.id;
});
afterAll(() => t.close());

describe('customer timeline', () => {
  it('is readable by a viewer of the organization', async () => {
    const viewer = await addMember(t.app, owner, 'viewer');
    const res = await get(`/customers/${customerId}/timeline`, viewer);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ data: [{ type: 'order.created' }], nextCursor: null });
  });

  it("answers 404 for another organization's customer, as for one that does not exist", async () => {
    const res = await get(`/customers/${customerId}/timeline`, attacker);
    expect(res.statusCode).toBe(404);
    const other = customerId.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const missing = await get(`/customers/${other}/timeline`, owner);
    expect(missing.statusCode).toBe(404);
    expect(res.json().code).toBe(missing.json().code);
  });

  it('is empty (not 404) for a customer with no events, and 400 for a malformed id', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: owner.auth,
      payload: { name: 'Quiet', phone: newPhone() },
    });
    const res = await get(`/customers/${created.json<{ id: string }>().id}/timeline`, owner);
    expect(res.json()).toEqual({ data: [], nextCursor: null });
    expect((await get('/customers/not-a-uuid/timeline', owner)).statusCode).toBe(400);
  });
});

describe('webhook log', () => {
  type Row = Record<string, unknown> & { channelId: string; outcome: string };
  const logs = async (m: Member, query = '') => {
    const res = await get(`/webhook-logs${query}`, m);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ data: Row[]; nextCursor: string | null }>();
  };

  it("shows each organization only its own channels' deliveries", async () => {
    const mine = await logs(owner);
    expect(mine.data.length).toBeGreaterThanOrEqual(2);
    expect(new Set(mine.data.map((r) => r.channelId))).toEqual(new Set([shop.id]));
    const theirs = await logs(attacker);
    expect(theirs.data.map((r) => r.channelId)).toEqual([attackerShop.id]);
    const probe = await logs(attacker, `?channelId=${shop.id}`);
    expect(probe.data).toEqual([]);
  });

  it.each(['agent', 'viewer'] as const)('refuses a %s with 403', async (role) => {
    const member = await addMember(t.app, owner, role);
    const res = await get('/webhook-logs', member);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('forbidden');
  });

  it('filters by outcome and channel, and pages newest first', async () => {
    const refused = await logs(owner, `?outcome=invalid_signature&channelId=${shop.id}`);
    expect(refused.data.map((r) => r.outcome)).toEqual(['invalid_signature']);
    const first = await logs(owner, '?limit=1');
    expect(first.data).toHaveLength(1);
    const next = await logs(owner, `?limit=1&cursor=${first.nextCursor}`);
    expect(next.data[0]!.id).not.toBe(first.data[0]!.id);
    expect(String(next.data[0]!.id) < String(first.data[0]!.id)).toBe(true);
    expect((await get('/webhook-logs?outcome=nope', owner)).statusCode).toBe(400);
  });

  it('never returns a stored body, even of a delivery still pending', async () => {
    const secretText = `pending-${randomBytes(8).toString('hex')}`;
    await recordDelivery(t.db, {
      orgId: owner.orgId,
      channelId: shop.id,
      source: 'commerce',
      outcome: 'pending',
      statusCode: 200,
      sizeBytes: secretText.length,
      body: Buffer.from(secretText),
      requestId: 'req-pending',
    });
    const res = await get('/webhook-logs', owner);
    const row = res.json<{ data: Row[] }>().data.find((r) => r.requestId === 'req-pending');
    expect(Object.keys(row!).sort()).toEqual(
      [
        'channelId',
        'detail',
        'id',
        'outcome',
        'processedAt',
        'receivedAt',
        'requestId',
        'sizeBytes',
        'source',
        'statusCode',
        'topic',
      ].sort(),
    );
    expect(res.body).not.toContain(secretText);
    expect(res.body).not.toContain(Buffer.from(secretText).toString('base64'));
  });
});
