import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, registerOrg, type Member, type TestApp } from '../helpers/app.js';
import { addMember, deleteUser, expectProblem, membersApp, patchUser, signIn } from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const NEW_PASSWORD = 'copper-meadow-violin-77-slowly';

const getUsers = (m: Member) => t.app.inject({ url: '/api/v1/users', headers: m.auth });
const addViewer = (m: Member) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/users',
    headers: m.auth,
    payload: {
      email: `v-${randomUUID()}@example.test`,
      name: 'V',
      role: 'viewer',
      password: PASSWORD,
    },
  });
const refresh = (m: Member) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    headers: { 'x-auth-mode': 'token' },
    payload: { refreshToken: m.refreshToken },
  });

describe('role changes apply at once', () => {
  it('a demoted admin loses admin routes on the very next request', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    // Warm every cache: the admin has just used admin routes with this token.
    expect((await addViewer(admin)).statusCode).toBe(201);

    expect((await patchUser(t.app, owner, admin.userId, { role: 'viewer' })).statusCode).toBe(200);

    expectProblem(await addViewer(admin), 403, 'forbidden');
    expectProblem(
      await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/organization',
        headers: admin.auth,
        payload: { name: 'Still admin?' },
      }),
      403,
      'forbidden',
    );
    // Still a member: reading is allowed.
    expect((await getUsers(admin)).statusCode).toBe(200);
  });

  it('a promoted agent gains admin routes on the very next request', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const agent = await addMember(t.app, owner, 'agent');
    expectProblem(await addViewer(agent), 403, 'forbidden');
    expect((await patchUser(t.app, owner, agent.userId, { role: 'admin' })).statusCode).toBe(200);
    expect((await addViewer(agent)).statusCode).toBe(201);
  });
});

describe('removal and password resets end sessions', () => {
  it("a deleted member's token is refused at once", async () => {
    const owner = await registerOrg(t.app, 'Org');
    const agent = await addMember(t.app, owner, 'agent');
    expect((await getUsers(agent)).statusCode).toBe(200);

    expect((await deleteUser(t.app, owner, agent.userId)).statusCode).toBe(204);

    expectProblem(await getUsers(agent), 401, 'unauthorized');
    expect((await refresh(agent)).statusCode).toBe(401);
    expectProblem(await signIn(t.app, agent.email), 401, 'invalid_credentials');
  });

  it("a password set by an admin ends the member's sessions and the old password", async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    const agent = await addMember(t.app, owner, 'agent');
    expect((await getUsers(agent)).statusCode).toBe(200);

    const res = await patchUser(t.app, admin, agent.userId, { password: NEW_PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).not.toContain(NEW_PASSWORD);

    expectProblem(await getUsers(agent), 401, 'unauthorized');
    expect((await refresh(agent)).statusCode).toBe(401);
    expectProblem(await signIn(t.app, agent.email), 401, 'invalid_credentials');
    expect((await signIn(t.app, agent.email, NEW_PASSWORD)).statusCode).toBe(200);
    // The admin's own session is untouched.
    expect((await getUsers(admin)).statusCode).toBe(200);
  });

  it.each([
    ['password', { password: NEW_PASSWORD }],
    ['email', { email: 'taken-over@example.test' }],
  ])(
    'refuses your own %s through /users (it needs re-authentication): nothing changes, no session ends',
    async (_field, patch) => {
      const owner = await registerOrg(t.app, 'Org');
      const admin = await addMember(t.app, owner, 'admin');
      const otherDevice = await signIn(t.app, admin.email);
      const otherAuth = {
        authorization: `Bearer ${otherDevice.json<{ accessToken: string }>().accessToken}`,
      };

      expectProblem(await patchUser(t.app, admin, admin.userId, patch), 403, 'forbidden');

      expect((await t.app.inject({ url: '/api/v1/users', headers: otherAuth })).statusCode).toBe(
        200,
      );
      expect((await signIn(t.app, admin.email)).statusCode).toBe(200);
    },
  );

  it('a deleted admin cannot finish another change with a token issued before', async () => {
    const owner = await registerOrg(t.app, 'Org');
    const admin = await addMember(t.app, owner, 'admin');
    expect((await deleteUser(t.app, owner, admin.userId)).statusCode).toBe(204);
    expectProblem(await addViewer(admin), 401, 'unauthorized');
  });
});
