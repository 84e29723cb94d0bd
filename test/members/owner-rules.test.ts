import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { users } from '../../src/db/schema.js';
import { PASSWORD, registerOrg, type TestApp } from '../helpers/app.js';
import {
  addMember,
  deleteUser,
  expectProblem,
  listUsers,
  membersApp,
  patchUser,
  signIn,
  userById,
} from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const NEW_PASSWORD = 'copper-meadow-violin-77-slowly';

describe('admin cannot make an owner or demote the owner', () => {
  it('refuses an admin adding a new owner', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    const before = await listUsers(t.app, owner);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin.auth,
      payload: {
        email: `o-${randomUUID()}@example.test`,
        name: 'Usurper',
        role: 'owner',
        password: PASSWORD,
      },
    });
    expectProblem(res, 403, 'forbidden');
    expect(await listUsers(t.app, owner)).toEqual(before);
  });

  it.each([
    { attack: 'promotes an agent to owner', target: 'agent', body: { role: 'owner' } },
    { attack: 'promotes themselves to owner', target: 'self', body: { role: 'owner' } },
    { attack: 'demotes the owner to admin', target: 'owner', body: { role: 'admin' } },
    { attack: 'demotes the owner to viewer', target: 'owner', body: { role: 'viewer' } },
    { attack: "resets the owner's password", target: 'owner', body: { password: NEW_PASSWORD } },
    {
      attack: "takes over the owner's email",
      target: 'owner',
      body: { email: `x-${randomUUID()}@example.test` },
    },
    { attack: 'renames the owner', target: 'owner', body: { name: 'Demoted' } },
  ])('refuses an admin who $attack', async ({ target, body }) => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    const agent = await addMember(t.app, owner, 'agent');
    const id = { agent: agent.userId, self: admin.userId, owner: owner.userId }[target]!;
    const before = await listUsers(t.app, owner);

    expectProblem(await patchUser(t.app, admin, id, body), 403, 'forbidden');
    expect(await listUsers(t.app, owner)).toEqual(before);
    // The owner still signs in with the old password, and their token still works.
    expect((await signIn(t.app, owner.email)).statusCode).toBe(200);
  });

  it('refuses an admin removing the owner', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    expectProblem(await deleteUser(t.app, admin, owner.userId), 403, 'forbidden');
    expect((await userById(t.app, owner, owner.userId))?.role).toBe('owner');
  });

  it('lets an admin manage members up to admin', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    const agent = await addMember(t.app, admin, 'agent');
    const res = await patchUser(t.app, admin, agent.userId, { role: 'admin' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: agent.userId, role: 'admin' });
    expect((await deleteUser(t.app, admin, agent.userId)).statusCode).toBe(204);
  });

  it('lets an owner make and unmake another owner', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const second = await addMember(t.app, owner, 'admin');
    expect((await patchUser(t.app, owner, second.userId, { role: 'owner' })).json()).toMatchObject({
      role: 'owner',
    });
    // The new owner may in turn demote the first: another owner remains.
    const res = await patchUser(t.app, second, owner.userId, { role: 'admin' });
    expect(res.statusCode, res.body).toBe(200);
    expect((await userById(t.app, second, owner.userId))?.role).toBe('admin');
  });
});

describe('last owner cannot be demoted or removed', () => {
  it.each(['admin', 'agent', 'viewer'] as const)(
    'refuses the only owner demoting themselves to %s (409)',
    async (role) => {
      const owner = await registerOrg(t.app, 'Org');
      expectProblem(await patchUser(t.app, owner, owner.userId, { role }), 409, 'conflict');
      expect((await userById(t.app, owner, owner.userId))?.role).toBe('owner');
    },
  );

  it('refuses the only owner deleting themselves (409)', async () => {
    const owner = await registerOrg(t.app, 'Org');
    expectProblem(await deleteUser(t.app, owner, owner.userId), 409, 'conflict');
    expect((await userById(t.app, owner, owner.userId))?.role).toBe('owner');
  });

  it('refuses demoting the last owner left after another was removed', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const second = await addMember(t.app, owner, 'owner');
    expect((await deleteUser(t.app, owner, second.userId)).statusCode).toBe(204);
    expectProblem(await patchUser(t.app, owner, owner.userId, { role: 'admin' }), 409, 'conflict');
  });

  it('lets an owner step down while another owner remains', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const second = await addMember(t.app, owner, 'owner');
    expect((await patchUser(t.app, owner, owner.userId, { role: 'admin' })).statusCode).toBe(200);
    // Now `second` is the last one.
    expectProblem(
      await patchUser(t.app, second, second.userId, { role: 'admin' }),
      409,
      'conflict',
    );
    expectProblem(await deleteUser(t.app, second, second.userId), 409, 'conflict');
  });

  it('leaves exactly one owner when two owners demote each other at the same moment', async () => {
    const a = await registerOrg(t.app, 'Org');
    const b = await addMember(t.app, a, 'owner');
    // Hold each change open after its owner count and write, so that without the
    // organization lock both would count two owners and both demotions would commit.
    const slow = vi
      .spyOn(t.app.ctx.audit, 'record')
      .mockImplementation(() => new Promise((resolve) => setTimeout(resolve, 150)));
    try {
      const results = await Promise.all([
        patchUser(t.app, a, b.userId, { role: 'admin' }),
        patchUser(t.app, b, a.userId, { role: 'admin' }),
      ]);
      const statuses = results.map((r) => r.statusCode).sort();
      // One wins; the loser meets the last-owner conflict or, already demoted, is forbidden.
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
    } finally {
      slow.mockRestore();
    }
    const members = await t.db.withOrg(a.orgId, (tx) =>
      tx.select({ role: users.role }).from(users),
    );
    expect(members.filter((m) => m.role === 'owner')).toHaveLength(1);
  });
});
