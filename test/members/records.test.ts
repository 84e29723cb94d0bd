import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PASSWORD, registerOrg, type TestApp } from '../helpers/app.js';
import { addMember, deleteUser, membersApp, patchUser } from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const newUser = () => ({
  email: `m-${randomUUID()}@example.test`,
  name: 'Member',
  role: 'agent',
  password: PASSWORD,
});

describe('responses and records', () => {
  it('never returns a password or its hash', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: owner.auth,
      payload: newUser(),
    });
    expect(res.statusCode).toBe(201);
    expect(Object.keys(res.json()).sort()).toEqual(['email', 'id', 'mfaEnabled', 'name', 'role']);
    const list = await t.app.inject({ url: '/api/v1/users', headers: owner.auth });
    expect(list.body).not.toMatch(/argon2|password/i);
  });

  it('pages through members with the cursor', async () => {
    const owner = await registerOrg(t.app, 'Org');
    await addMember(t.app, owner, 'agent');
    await addMember(t.app, owner, 'viewer');
    const first = await t.app.inject({ url: '/api/v1/users?limit=2', headers: owner.auth });
    const page1 = first.json<{ data: { id: string }[]; nextCursor: string }>();
    expect(page1.data).toHaveLength(2);
    const second = await t.app.inject({
      url: `/api/v1/users?limit=2&cursor=${page1.nextCursor}`,
      headers: owner.auth,
    });
    const page2 = second.json<{ data: { id: string }[]; nextCursor: string | null }>();
    expect(page2.data).toHaveLength(1);
    expect(page2.nextCursor).toBeNull();
    expect(new Set([...page1.data, ...page2.data].map((u) => u.id)).size).toBe(3);
  });

  it('records each change in the audit log, never with the password', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const spy = vi.spyOn(t.app.ctx.audit, 'record');
    try {
      const agent = await addMember(t.app, owner, 'agent');
      await patchUser(t.app, owner, agent.userId, {
        role: 'admin',
        name: 'Renamed',
        password: 'copper-meadow-violin-77-slowly',
      });
      await deleteUser(t.app, owner, agent.userId);
      const entries = spy.mock.calls
        .map((c) => c[1])
        .filter((e) => e.orgId === owner.orgId && e.action.startsWith('user.'));
      expect(entries.map((e) => e.action)).toEqual([
        'user.created',
        'user.role_changed',
        'user.updated',
        'user.password_changed',
        'user.deleted',
      ]);
      for (const e of entries)
        expect(e).toMatchObject({ actorId: owner.userId, targetId: agent.userId });
      expect(entries[1]!.metadata).toEqual({ from: 'agent', to: 'admin' });
      expect(JSON.stringify(entries)).not.toMatch(/copper-meadow|plum-harbor|argon2/);
    } finally {
      spy.mockRestore();
    }
  });
});
