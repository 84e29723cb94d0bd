import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newPhone, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createCommerceChannel } from '../helpers/channels.js';
import { deliverWoo, wooOrder } from '../helpers/commerce.js';

/** Signed WooCommerce bodies this server cannot use, and text it must store anyway. */
let t: TestApp;
let owner: Member;
let shop: { id: string; secret: string };

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Payloads');
  shop = await createCommerceChannel(t.app, owner);
});
afterAll(() => t.close());

const api = (url: string) => t.app.inject({ url: `/api/v1${url}`, headers: owner.auth });
const logRow = async (requestId: string) =>
  (await api(`/webhook-logs?channelId=${shop.id}&limit=100`))
    .json<{ data: Record<string, unknown>[] }>()
    .data.find((r) => r.requestId === requestId);
const order = (body: string) => deliverWoo(t.app, shop, { topic: 'order.created', body });
const without = (o: Record<string, unknown>, ...keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

describe('commerce webhook: bodies it cannot use', () => {
  it.each([
    ['malformed JSON', '{"id": 1,', 'invalid_json'],
    ['a __proto__ key', '{"__proto__": {"admin": true}, "id": 1}', 'invalid_json'],
    ['an empty body', '', 'invalid_json'],
  ])('refuses a signed body with %s: 400, logged as invalid_payload', async (_name, body, code) => {
    const res = await order(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe(code);
    expect(await logRow(String(res.headers['x-request-id']))).toMatchObject({
      outcome: 'invalid_payload',
      statusCode: 400,
    });
  });

  // Issue 9: "The order is missing fields this server needs" left the shop owner guessing.
  it.each([
    ['without billing', (o: Record<string, unknown>) => without(o, 'billing'), ['billing'], []],
    [
      'without currency and total',
      (o: Record<string, unknown>) => without(o, 'currency', 'total'),
      ['currency', 'total'],
      [],
    ],
    [
      'with a null id and a total that is not a number',
      (o: Record<string, unknown>) => ({ ...o, id: null, total: 'forty-two' }),
      ['id'],
      ['total'],
    ],
    ['that is not an object at all', () => [1, 2], [], ['the order itself']],
  ])(
    'names the fields of an order %s, in the problem and in the log',
    async (_name, change, missing, invalid) => {
      const res = await order(JSON.stringify(change(wooOrder(newPhone()))));
      expect(res.statusCode).toBe(400);
      const problem = res.json<{ code: string; detail: string; errors: unknown[] }>();
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors).toEqual([
        ...missing.map((path) => ({ path, message: 'missing' })),
        ...invalid.map((path) => ({ path, message: expect.any(String) })),
      ]);
      const row = await logRow(String(res.headers['x-request-id']));
      expect(row).toMatchObject({ outcome: 'invalid_payload', statusCode: 400 });
      for (const field of [...missing, ...invalid]) {
        expect(problem.detail).toContain(field);
        expect(row!.detail).toContain(field);
      }
      if (missing.length > 0) expect(problem.detail).toContain(`missing: ${missing.join(', ')}`);
    },
  );
});

describe('commerce webhook: text PostgreSQL cannot store (issue 9, finding 6)', () => {
  it.each([
    ['a NUL in the billing first name', { first_name: 'A\u0000na' }, {}, 'A\uFFFDna Souza', '7001'],
    [
      'a lone surrogate in the last name',
      { last_name: 'Sou\udc00za' },
      {},
      'Ana Sou\uFFFDza',
      '7001',
    ],
    ['a NUL in the order number', {}, { number: '70\u000001' }, 'Ana Souza', '70\uFFFD01'],
    ['a lone surrogate in the order number', {}, { number: '\ud800' }, 'Ana Souza', '\uFFFD'],
  ])('records an order with %s', async (_name, billing, over, name, number) => {
    const phone = newPhone();
    const base = wooOrder(phone, over);
    const res = await order(JSON.stringify({ ...base, billing: { ...base.billing, ...billing } }));
    expect(res.statusCode).toBe(200);
    expect(await logRow(String(res.headers['x-request-id']))).toMatchObject({
      outcome: 'processed',
    });
    const found = await api(`/customers?search=${encodeURIComponent(phone)}`);
    const [customer] = found.json<{ data: { id: string; name: string }[] }>().data;
    expect(customer!.name).toBe(name);
    const events = (await api(`/customers/${customer!.id}/timeline`)).json<{
      data: { data: { number: string } }[];
    }>().data;
    expect(events.map((e) => e.data.number)).toEqual([number]);
  });
});
