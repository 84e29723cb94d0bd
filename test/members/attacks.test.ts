import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, problemOf, registerOrg, type TestApp } from '../helpers/app.js';
import {
  addMember,
  deleteUser,
  expectProblem,
  listUsers,
  membersApp,
  patchUser,
  signIn,
} from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const newUser = (extra: Record<string, unknown> = {}) => ({
  email: `m-${randomUUID()}@example.test`,
  name: 'Member',
  role: 'agent',
  password: PASSWORD,
  ...extra,
});

describe('cross-organization member ids', () => {
  it.each([
    { method: 'PATCH' as const, payload: { role: 'viewer' } },
    { method: 'PATCH' as const, payload: { password: 'copper-meadow-violin-77-slowly' } },
    { method: 'DELETE' as const },
  ])("refuses another organization's member on $method exactly as a random id", async (c) => {
    const victim = await registerOrg(t.app, 'Victim');
    const target = await addMember(t.app, victim, 'admin');
    const attacker = await registerOrg(t.app, 'Attacker');
    const before = await listUsers(t.app, victim);

    const call = (id: string) =>
      t.app.inject({
        method: c.method,
        url: `/api/v1/users/${id}`,
        headers: attacker.auth,
        ...(c.payload ? { payload: c.payload } : {}),
      });
    const foreign = await call(target.userId);
    const random = await call(randomUUID());

    expectProblem(foreign, 404, 'not_found');
    expect(problemOf(foreign)).toEqual(problemOf(random));
    expect(await listUsers(t.app, victim)).toEqual(before);
    expect((await signIn(t.app, target.email)).statusCode).toBe(200);
  });

  it("never lists another organization's members", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    await addMember(t.app, victim, 'agent');
    const attacker = await registerOrg(t.app, 'Attacker');
    expect((await listUsers(t.app, attacker)).map((u) => u.id)).toEqual([attacker.userId]);
    expect(await listUsers(t.app, victim)).toHaveLength(2);
  });
});

describe('mass assignment', () => {
  const smuggled = [
    { key: 'organizationId', value: () => randomUUID() },
    { key: 'id', value: () => randomUUID() },
    { key: 'mfaEnabled', value: () => true },
    { key: 'passwordHash', value: () => '$argon2id$v=19$m=19456,t=2,p=1$x$y' },
    { key: 'createdAt', value: () => '2000-01-01T00:00:00.000Z' },
  ];

  it.each(smuggled)('refuses a POST /users body that sets $key', async ({ key, value }) => {
    const owner = await registerOrg(t.app, 'Org');
    const body = newUser({ [key]: value() });
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: owner.auth,
      payload: body,
    });
    expectProblem(res, 400, 'validation_failed');
    expect(JSON.stringify(res.json().errors)).toContain(key);
    expect(await listUsers(t.app, owner)).toHaveLength(1);
  });

  it.each(smuggled)('refuses a PATCH /users/:id body that sets $key', async ({ key, value }) => {
    const owner = await registerOrg(t.app, 'Org');
    const agent = await addMember(t.app, owner, 'agent');
    const before = await listUsers(t.app, owner);
    const res = await patchUser(t.app, owner, agent.userId, { name: 'X', [key]: value() });
    expectProblem(res, 400, 'validation_failed');
    expect(JSON.stringify(res.json().errors)).toContain(key);
    expect(await listUsers(t.app, owner)).toEqual(before);
  });

  it.each(['id', 'slug', 'organizationId', 'createdAt'])(
    'refuses a PATCH /organization body that sets %s',
    async (key) => {
      const owner = await registerOrg(t.app, 'Org');
      const before = await t.app.inject({ url: '/api/v1/organization', headers: owner.auth });
      const res = await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/organization',
        headers: owner.auth,
        payload: { name: 'Renamed', [key]: key === 'slug' ? 'taken-over' : randomUUID() },
      });
      expectProblem(res, 400, 'validation_failed');
      const after = await t.app.inject({ url: '/api/v1/organization', headers: owner.auth });
      expect(after.json()).toEqual(before.json());
    },
  );
});

describe('bad member input', () => {
  it.each([
    { name: 'a 14-character password', body: { password: 'a'.repeat(14) } },
    { name: 'a 257-character password', body: { password: 'a'.repeat(257) } },
    // One of the 15+ character entries of the 10,000 most common passwords.
    { name: 'a common password', body: { password: 'mailcreated5240' } },
  ])('refuses $name with weak_password on create and on reset', async ({ body }) => {
    const owner = await registerOrg(t.app, 'Org');
    const agent = await addMember(t.app, owner, 'agent');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: owner.auth,
      payload: newUser(body),
    });
    expectProblem(created, 400, 'weak_password');
    expectProblem(await patchUser(t.app, owner, agent.userId, body), 400, 'weak_password');
    expect(await listUsers(t.app, owner)).toHaveLength(2);
    expect((await signIn(t.app, agent.email)).statusCode).toBe(200);
  });

  it.each([
    { name: 'an email of another organization', other: true, upper: false },
    { name: 'an email of this organization', other: false, upper: false },
    { name: 'an email differing only in case', other: true, upper: true },
  ])('answers 409 to $name', async ({ other, upper }) => {
    const owner = await registerOrg(t.app, 'Org');
    const elsewhere = other ? await registerOrg(t.app, 'Other') : owner;
    const existing = await addMember(t.app, elsewhere, 'viewer');
    const email = upper ? existing.email.toUpperCase() : existing.email;
    const agent = await addMember(t.app, owner, 'agent');
    const before = await listUsers(t.app, owner);

    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: owner.auth,
      payload: newUser({ email }),
    });
    expectProblem(created, 409, 'conflict');
    expectProblem(await patchUser(t.app, owner, agent.userId, { email }), 409, 'conflict');
    expect(await listUsers(t.app, owner)).toEqual(before);
  });

  it.each([
    { name: 'an empty body', body: {} },
    { name: 'an unknown role', body: { role: 'superadmin' } },
    { name: 'an invalid email', body: { email: 'not-an-email' } },
    { name: 'a name with control characters', body: { name: 'a\u0000b' } },
    { name: 'a null role', body: { role: null } },
  ])('answers 400 to a PATCH with $name', async ({ body }) => {
    const owner = await registerOrg(t.app, 'Org');
    const agent = await addMember(t.app, owner, 'agent');
    expectProblem(await patchUser(t.app, owner, agent.userId, body), 400, 'validation_failed');
  });

  it.each(['not-a-uuid', '1', `${randomUUID()}x`, encodeURIComponent("' OR 1=1--")])(
    'answers 400 to the id %s',
    async (id) => {
      const owner = await registerOrg(t.app, 'Org');
      expectProblem(await patchUser(t.app, owner, id, { name: 'X' }), 400, 'validation_failed');
      expectProblem(await deleteUser(t.app, owner, id), 400, 'validation_failed');
    },
  );

  it('answers 400 to a cursor that is not a uuid', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const res = await t.app.inject({ url: '/api/v1/users?cursor=x', headers: owner.auth });
    expectProblem(res, 400, 'validation_failed');
  });
});
