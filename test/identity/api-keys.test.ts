import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomer,
  newPhone,
  PASSWORD,
  registerOrg,
  testApp,
  type Member,
  type TestApp,
} from '../helpers/app.js';
import { addMember, deleteUser, expectProblem, patchUser } from '../members/members.js';
import { signIn } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

async function makeKey(owner: Member, scopes: string[], extra: Record<string, unknown> = {}) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: owner.auth,
    payload: { name: 'integration', scopes, ...extra },
  });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json<{ id: string; key: string }>();
  return { ...body, auth: { authorization: `Bearer ${body.key}` } };
}

describe('API keys', () => {
  it('shows the secret once, stores it only hashed, and lists keys without it', async () => {
    const owner = await registerOrg(t.app);
    const key = await makeKey(owner, ['customers:read']);
    expect(key.key).toMatch(/^bsk_[A-Za-z0-9_-]{43}$/);
    const list = await t.app.inject({ url: '/api/v1/api-keys', headers: owner.auth });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(key.key);
    expect(list.body).not.toContain(key.key.slice(12));
    expect(list.json().data[0]).toMatchObject({ id: key.id, scopes: ['customers:read'] });
  });

  it.each([
    ['reading customers with customers:read', ['customers:read'], 'GET', '/api/v1/customers', 200],
    [
      'writing customers with only customers:read',
      ['customers:read'],
      'POST',
      '/api/v1/customers',
      403,
    ],
    [
      'writing customers with customers:write',
      ['customers:write'],
      'POST',
      '/api/v1/customers',
      201,
    ],
    [
      'reading customers with only customers:write',
      ['customers:write'],
      'GET',
      '/api/v1/customers',
      403,
    ],
    [
      'a route with no scope (members)',
      ['customers:read', 'customers:write'],
      'GET',
      '/api/v1/users',
      403,
    ],
    ['its own session routes', ['customers:read'], 'GET', '/api/v1/auth/me', 403],
    ['managing API keys', ['customers:write'], 'POST', '/api/v1/api-keys', 403],
  ])('scopes: %s -> %i', async (_, scopes, method, url, status) => {
    const owner = await registerOrg(t.app);
    const key = await makeKey(owner, scopes);
    const res = await t.app.inject({
      method: method as 'GET' | 'POST',
      url,
      headers: key.auth, // no CSRF token: header credentials are exempt
      ...(method === 'POST'
        ? {
            payload: url.endsWith('customers')
              ? { name: 'Via key', phone: '+15550000001' }
              : { name: 'x', scopes: ['customers:read'] },
          }
        : {}),
    });
    expect(res.statusCode, res.body).toBe(status);
    if (status === 403) expect(res.json()).toMatchObject({ code: 'insufficient_scope' });
  });

  it('cannot see another organization’s customers', async () => {
    const a = await registerOrg(t.app);
    const b = await registerOrg(t.app);
    const theirs = await createCustomer(t.app, b);
    const key = await makeKey(a, ['customers:read']);
    expect(
      (await t.app.inject({ url: `/api/v1/customers/${theirs.id}`, headers: key.auth })).statusCode,
    ).toBe(404);
    const list = await t.app.inject({ url: '/api/v1/customers', headers: key.auth });
    expect(list.json().data).toEqual([]);
  });

  // Issue 9, finding 9: a key is a delegation of its maker's rights, never a copy of them.
  it.each([
    ['demoted to viewer: it still reads, and writes are refused', 'viewer', 200, 403],
    ['demoted to agent: it still reads and writes customers', 'agent', 200, 201],
  ])('follows its maker, an admin %s', async (_case, role, read, write) => {
    const owner = await registerOrg(t.app);
    const admin = await addMember(t.app, owner, 'admin');
    const key = await makeKey(admin, ['customers:read', 'customers:write']);
    const create = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/customers',
        headers: key.auth,
        payload: { name: 'Via key', phone: newPhone() },
      });
    expect((await create()).statusCode).toBe(201);
    expect((await patchUser(t.app, owner, admin.userId, { role })).statusCode).toBe(200);
    const list = await t.app.inject({ url: '/api/v1/customers', headers: key.auth });
    expect(list.statusCode).toBe(read);
    const after = await create();
    expect(after.statusCode, after.body).toBe(write);
    if (write === 403) expectProblem(after, 403, 'forbidden');
  });

  it('stops working the moment its maker is removed from the organization', async () => {
    const owner = await registerOrg(t.app);
    const admin = await addMember(t.app, owner, 'admin');
    const key = await makeKey(admin, ['customers:read']);
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      200,
    );
    expect((await deleteUser(t.app, owner, admin.userId)).statusCode).toBe(204);
    expectProblem(
      await t.app.inject({ url: '/api/v1/customers', headers: key.auth }),
      401,
      'unauthorized',
    );
  });

  it('stops working the moment it is revoked', async () => {
    const owner = await registerOrg(t.app);
    const key = await makeKey(owner, ['customers:read']);
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      200,
    );
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${key.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      401,
    );
  });

  it('stops working when it expires', async () => {
    const owner = await registerOrg(t.app);
    const key = await makeKey(owner, ['customers:read'], {
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      200,
    );
    await new Promise((r) => setTimeout(r, 1600));
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      401,
    );
  });

  it.each([
    ['a made-up key', 'bsk_' + 'A'.repeat(43)],
    ['a truncated key', 'bsk_abc'],
    ['only the prefix', 'bsk_'],
  ])('refuses %s with 401', async (_, key) => {
    const res = await t.app.inject({
      url: '/api/v1/customers',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.statusCode).toBe(401);
  });

  it.each([
    ['no scopes', { name: 'k', scopes: [] }],
    ['an unknown scope', { name: 'k', scopes: ['admin:all'] }],
    ['a repeated scope', { name: 'k', scopes: ['customers:read', 'customers:read'] }],
    [
      'an expiry in the past',
      { name: 'k', scopes: ['customers:read'], expiresAt: '2020-01-01T00:00:00Z' },
    ],
    [
      'an organizationId',
      {
        name: 'k',
        scopes: ['customers:read'],
        organizationId: '00000000-0000-4000-8000-000000000000',
      },
    ],
  ])('refuses to create a key with %s (400)', async (_, payload) => {
    const owner = await registerOrg(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: owner.auth,
      payload,
    });
    expect(res.statusCode).toBe(400);
  });

  it('is managed by admins only: an agent gets 403, another organization’s key id 404', async () => {
    const owner = await registerOrg(t.app);
    const email = `agent-${Date.now()}@example.test`;
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: owner.auth,
      payload: { email, name: 'Agent', role: 'agent', password: PASSWORD },
    });
    expect(created.statusCode).toBe(201);
    const agent = await signIn(t.app, email);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: agent.auth,
      payload: { name: 'k', scopes: ['customers:read'] },
    });
    expect(res.statusCode).toBe(403);
    const other = await registerOrg(t.app);
    const key = await makeKey(other, ['customers:read']);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/api-keys/${key.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(404);
    expect((await t.app.inject({ url: '/api/v1/customers', headers: key.auth })).statusCode).toBe(
      200,
    );
  });
});
