import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/db/schema.js';
import { PASSWORD, registerOrg, type Member, type TestApp } from '../helpers/app.js';
import { addMember, expectProblem, listUsers, membersApp } from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

interface Setup {
  owner: Member;
  caller: Member;
  /** A member the route acts on (an agent), where it takes an id. */
  target: Member;
}

interface RouteCase {
  route: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: (s: Setup) => string;
  payload?: () => Record<string, unknown>;
  /** Expected status per caller role. */
  expect: Record<Role, number>;
}

const READ = { viewer: 200, agent: 200, admin: 200, owner: 200 };
const ADMIN = (ok: number) => ({ viewer: 403, agent: 403, admin: ok, owner: ok });

const routes: RouteCase[] = [
  { route: 'GET /users', method: 'GET', url: () => '/api/v1/users', expect: READ },
  {
    route: 'POST /users',
    method: 'POST',
    url: () => '/api/v1/users',
    payload: () => ({
      email: `new-${randomUUID()}@example.test`,
      name: 'New',
      role: 'agent',
      password: PASSWORD,
    }),
    expect: ADMIN(201),
  },
  {
    route: 'PATCH /users/:id',
    method: 'PATCH',
    url: (s) => `/api/v1/users/${s.target.userId}`,
    payload: () => ({ name: 'Renamed' }),
    expect: ADMIN(200),
  },
  {
    route: 'DELETE /users/:id',
    method: 'DELETE',
    url: (s) => `/api/v1/users/${s.target.userId}`,
    expect: ADMIN(204),
  },
  { route: 'GET /organization', method: 'GET', url: () => '/api/v1/organization', expect: READ },
  {
    route: 'PATCH /organization',
    method: 'PATCH',
    url: () => '/api/v1/organization',
    payload: () => ({ name: 'Renamed Org' }),
    expect: ADMIN(200),
  },
];

const callers: Role[] = ['viewer', 'agent', 'admin', 'owner'];
const matrix = routes.flatMap((r) =>
  callers.map((role) => ({ ...r, role, status: r.expect[role] })),
);

describe('role matrix', () => {
  it.each(matrix)('$route as $role answers $status', async (c) => {
    const owner = await registerOrg(t.app, 'Matrix');
    const caller = c.role === 'owner' ? owner : await addMember(t.app, owner, c.role);
    const target = await addMember(t.app, owner, 'agent');
    const before = await listUsers(t.app, owner);

    const res = await t.app.inject({
      method: c.method,
      url: c.url({ owner, caller, target }),
      headers: caller.auth,
      ...(c.payload ? { payload: c.payload() } : {}),
    });

    if (c.status === 403) {
      expectProblem(res, 403, 'forbidden');
      // A refused write changed nothing.
      expect(await listUsers(t.app, owner)).toEqual(before);
      const org = await t.app.inject({ url: '/api/v1/organization', headers: owner.auth });
      expect(org.json<{ name: string }>().name).not.toBe('Renamed Org');
    } else {
      expect(res.statusCode, res.body).toBe(c.status);
    }
  });
});

describe('viewer cannot write', () => {
  const self = (v: Member) => `/api/v1/users/${v.userId}`;
  const fresh = (role: Role) => ({
    email: `x-${randomUUID()}@example.test`,
    name: 'X',
    role,
    password: PASSWORD,
  });
  it.each([
    {
      attack: 'create an owner',
      method: 'POST' as const,
      url: () => '/api/v1/users',
      payload: fresh('owner'),
    },
    {
      attack: 'create an admin',
      method: 'POST' as const,
      url: () => '/api/v1/users',
      payload: fresh('admin'),
    },
    {
      attack: 'promote themselves to admin',
      method: 'PATCH' as const,
      url: self,
      payload: { role: 'admin' },
    },
    { attack: 'rename themselves', method: 'PATCH' as const, url: self, payload: { name: 'Me' } },
    { attack: 'remove themselves', method: 'DELETE' as const, url: self },
    {
      attack: 'turn off the MFA policy',
      method: 'PATCH' as const,
      url: () => '/api/v1/organization',
      payload: { requireMfa: false },
    },
  ])('refuses a viewer trying to $attack', async (c) => {
    const owner = await registerOrg(t.app, 'Viewer');
    const viewer = await addMember(t.app, owner, 'viewer');
    const before = await listUsers(t.app, owner);
    const res = await t.app.inject({
      method: c.method,
      url: c.url(viewer),
      headers: viewer.auth,
      ...(c.payload ? { payload: c.payload } : {}),
    });
    expectProblem(res, 403, 'forbidden');
    expect(await listUsers(t.app, owner)).toEqual(before);
  });
});

describe('agent cannot manage members', () => {
  it.each([
    { name: 'add a member', method: 'POST' as const },
    {
      name: 'promote themselves',
      method: 'PATCH' as const,
      self: true,
      payload: { role: 'admin' },
    },
    {
      name: "reset another agent's password",
      method: 'PATCH' as const,
      payload: { password: `${PASSWORD}-x` },
    },
    { name: 'remove another agent', method: 'DELETE' as const },
    { name: 'remove the owner', method: 'DELETE' as const, owner: true },
  ])('refuses an agent trying to $name', async (c) => {
    const owner = await registerOrg(t.app, 'Agent');
    const agent = await addMember(t.app, owner, 'agent');
    const other = await addMember(t.app, owner, 'agent');
    const before = await listUsers(t.app, owner);
    const id = c.owner ? owner.userId : c.self ? agent.userId : other.userId;
    const res = await t.app.inject({
      method: c.method,
      url: c.method === 'POST' ? '/api/v1/users' : `/api/v1/users/${id}`,
      headers: agent.auth,
      ...(c.method === 'POST'
        ? {
            payload: {
              email: `x-${randomUUID()}@example.test`,
              name: 'X',
              role: 'viewer',
              password: PASSWORD,
            },
          }
        : c.payload
          ? { payload: c.payload }
          : {}),
    });
    expectProblem(res, 403, 'forbidden');
    expect(await listUsers(t.app, owner)).toEqual(before);
  });
});
