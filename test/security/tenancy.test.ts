import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomer,
  newPhone,
  problemOf,
  registerOrg,
  testApp,
  type Member,
  type TestApp,
} from '../helpers/app.js';
import { expectProblem } from '../helpers/problems.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

type Method = 'GET' | 'PATCH' | 'DELETE';

/** Every customers route that takes an id, with a body that would be valid for it. */
const idRoutes: { method: Method; payload?: Record<string, unknown> }[] = [
  { method: 'GET' },
  { method: 'PATCH', payload: { name: 'Hijacked', notes: 'pwned' } },
  { method: 'DELETE' },
];

const call = (member: Member, method: Method, id: string, payload?: Record<string, unknown>) =>
  t.app.inject({
    method,
    url: `/api/v1/customers/${id}`,
    headers: member.auth,
    ...(payload ? { payload } : {}),
  });

async function readCustomer(member: Member, id: string) {
  const res = await t.app.inject({ url: `/api/v1/customers/${id}`, headers: member.auth });
  expect(res.statusCode).toBe(200);
  return res.json<Record<string, unknown>>();
}

async function listIds(member: Member, query = '') {
  const res = await t.app.inject({ url: `/api/v1/customers${query}`, headers: member.auth });
  expect(res.statusCode).toBe(200);
  return res.json<{ data: { id: string }[] }>().data.map((c) => c.id);
}

describe('cross-tenant access to customers', () => {
  it.each(idRoutes)(
    "refuses another organization's customer id on $method /customers/:id exactly as a random id",
    async ({ method, payload }) => {
      const victim = await registerOrg(t.app, 'Victim');
      const attacker = await registerOrg(t.app, 'Attacker');
      const target = await createCustomer(t.app, victim, { name: 'Secret Client', notes: 'vip' });
      const before = await readCustomer(victim, target.id);

      const foreign = await call(attacker, method, target.id, payload);
      const random = await call(attacker, method, randomUUID(), payload);

      expectProblem(foreign, 404, 'not_found');
      expectProblem(random, 404, 'not_found');
      expect(problemOf(foreign)).toEqual(problemOf(random));
      expect(foreign.body).not.toContain(target.id);
      expect(foreign.body).not.toContain('Secret Client');

      // The victim's row is untouched.
      expect(await readCustomer(victim, target.id)).toEqual(before);
    },
  );

  it("never lists another organization's customers", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const attacker = await registerOrg(t.app, 'Attacker');
    const victimRows = [
      await createCustomer(t.app, victim, { name: 'Victim One' }),
      await createCustomer(t.app, victim, { name: 'Victim Two' }),
    ];
    const own = await createCustomer(t.app, attacker, { name: 'Attacker Own' });

    expect(await listIds(attacker)).toEqual([own.id]);
    expect(await listIds(attacker, '?limit=100')).toEqual([own.id]);
    // Control: the victim does see its rows, so the list above is not empty by accident.
    expect(await listIds(victim)).toEqual(victimRows.map((c) => c.id).reverse());
  });

  it.each([
    { field: 'exact name', value: (c: { name: string; phone: string }) => c.name },
    { field: 'exact phone', value: (c: { name: string; phone: string }) => c.phone },
    { field: 'phone digits', value: (c: { name: string; phone: string }) => c.phone.slice(1) },
  ])("never finds another organization's customer by searching its $field", async ({ value }) => {
    const victim = await registerOrg(t.app, 'Victim');
    const attacker = await registerOrg(t.app, 'Attacker');
    const target = await createCustomer(t.app, victim, {
      name: `Needle ${randomUUID()}`,
      phone: newPhone(),
    });
    const q = `?search=${encodeURIComponent(value(target))}`;

    expect(await listIds(attacker, q)).toEqual([]);
    // Control: the same search finds it for its owner.
    expect(await listIds(victim, q)).toEqual([target.id]);
  });
});

describe('mass assignment', () => {
  const smuggled = [
    { key: 'organizationId', value: () => randomUUID() },
    { key: 'id', value: () => randomUUID() },
    { key: 'createdAt', value: () => '2000-01-01T00:00:00.000Z' },
    { key: 'updatedAt', value: () => '2000-01-01T00:00:00.000Z' },
    { key: 'isAdmin', value: () => true },
  ];

  it.each(smuggled)('refuses a POST /customers body that sets $key', async ({ key, value }) => {
    const victim = await registerOrg(t.app, 'Victim');
    const attacker = await registerOrg(t.app, 'Attacker');
    const phone = newPhone();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: attacker.auth,
      payload: {
        name: 'Smuggler',
        phone,
        [key]: key === 'organizationId' ? victim.orgId : value(),
      },
    });

    expectProblem(res, 400, 'validation_failed');
    const body = res.json<{ errors: { path: string; message: string }[] }>();
    expect(Array.isArray(body.errors)).toBe(true);
    expect(body.errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(body.errors)).toContain(key);

    // Nothing was created, in either organization.
    const q = `?search=${encodeURIComponent(phone)}`;
    expect(await listIds(attacker, q)).toEqual([]);
    expect(await listIds(victim, q)).toEqual([]);
  });

  it.each(smuggled)(
    'refuses a PATCH /customers/:id body that sets $key',
    async ({ key, value }) => {
      const victim = await registerOrg(t.app, 'Victim');
      const attacker = await registerOrg(t.app, 'Attacker');
      const own = await createCustomer(t.app, attacker, { name: 'Mine' });
      const before = await readCustomer(attacker, own.id);

      const res = await call(attacker, 'PATCH', own.id, {
        name: 'Changed',
        [key]: key === 'organizationId' ? victim.orgId : value(),
      });

      expectProblem(res, 400, 'validation_failed');
      const body = res.json<{ errors: { path: string; message: string }[] }>();
      expect(body.errors.length).toBeGreaterThan(0);
      expect(JSON.stringify(body.errors)).toContain(key);

      expect(await readCustomer(attacker, own.id)).toEqual(before);
      expect(await listIds(victim)).toEqual([]);
    },
  );
});

describe('malformed input', () => {
  const malformed = [
    { name: 'not-a-uuid', id: 'not-a-uuid' },
    { name: 'a number', id: '1' },
    { name: 'SQL injection', id: encodeURIComponent("' OR 1=1--") },
    { name: 'a uuid with trailing characters', id: `${randomUUID()}x` },
    { name: 'a uuid with an encoded NUL', id: `${randomUUID()}%00` },
    { name: 'a uuid without dashes', id: randomUUID().replace(/-/g, '') },
    { name: 'a 150-character string', id: 'a'.repeat(150) },
    // Past the router's maxParamLength and past its URL decoder: the route never matches, so
    // these only name the field if the app maps the router's own errors.
    { name: 'an overlong string', id: 'a'.repeat(1000), routed: false },
    { name: 'a broken percent-encoding', id: '%E0%A4%A', routed: false },
  ];
  const cases = malformed.flatMap((m) => idRoutes.map((r) => ({ ...m, ...r })));

  it.each(cases)('answers 400 to $name as the id on $method /customers/:id', async (c) => {
    const member = await registerOrg(t.app);
    const own = await createCustomer(t.app, member);
    const res = await call(member, c.method, c.id, c.payload);

    expectProblem(res, 400, 'validation_failed');
    expect(res.headers['x-request-id']).toBeTruthy();
    if (c.routed !== false) {
      expect(res.json().errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: 'params.id' })]),
      );
    }
    expect(res.body).not.toMatch(/select|syntax|postgres|drizzle|stack|FST_ERR/i);
    // Nothing changed.
    expect(await listIds(member)).toEqual([own.id]);
  });

  it.each([
    { name: 'not a uuid', query: '?cursor=not-a-uuid' },
    { name: 'SQL injection', query: `?cursor=${encodeURIComponent("' OR 1=1--")}` },
    { name: 'a uuid with trailing characters', query: `?cursor=${randomUUID()}x` },
    { name: 'a number', query: '?cursor=1' },
  ])('answers 400 to a cursor that is $name', async ({ query }) => {
    const member = await registerOrg(t.app);
    const res = await t.app.inject({ url: `/api/v1/customers${query}`, headers: member.auth });
    expectProblem(res, 400, 'validation_failed');
    expect(res.json().errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'querystring.cursor' })]),
    );
  });

  it.each(['0', '101', '-1', 'abc', '1.5'])('answers 400 to limit=%s', async (limit) => {
    const member = await registerOrg(t.app);
    const res = await t.app.inject({
      url: `/api/v1/customers?limit=${encodeURIComponent(limit)}`,
      headers: member.auth,
    });
    expectProblem(res, 400, 'validation_failed');
    expect(res.json().errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'querystring.limit' })]),
    );
  });
});
