import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { me, signIn } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const NEW_PASSWORD = 'orchard-velvet-compass-77-slowly';

describe('sessions a member controls', () => {
  it('lists only my live sessions and marks the current one', async () => {
    const m = await registerOrg(t.app);
    const other = await registerOrg(t.app);
    const second = await signIn(t.app, m.email);
    const res = await t.app.inject({ url: '/api/v1/sessions', headers: second.auth });
    expect(res.statusCode).toBe(200);
    const list = res.json().data as { id: string; current: boolean; ip: string | null }[];
    expect(list).toHaveLength(2);
    expect(list.filter((s) => s.current)).toHaveLength(1);
    const others = (await t.app.inject({ url: '/api/v1/sessions', headers: other.auth })).json();
    const mine = new Set(list.map((s) => s.id));
    for (const s of others.data as { id: string }[]) expect(mine.has(s.id)).toBe(false);
  });

  it('ends one session: its token dies at once, the others live', async () => {
    const m = await registerOrg(t.app);
    const laptop = await signIn(t.app, m.email);
    expect((await me(t.app, laptop.auth)).statusCode).toBe(200); // cached as live
    const target = (await me(t.app, laptop.auth)).json().sessionId as string;
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${target}`,
      headers: m.auth,
    });
    expect(del.statusCode).toBe(204);
    expect((await me(t.app, laptop.auth)).statusCode).toBe(401);
    expect((await me(t.app, m.auth)).statusCode).toBe(200);
  });

  it('answers 404 for another user’s session, as for an unknown one, and ends nothing', async () => {
    const victim = await registerOrg(t.app);
    const attacker = await registerOrg(t.app);
    const victimSession = (await me(t.app, victim.auth)).json().sessionId as string;
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${victimSession}`,
      headers: attacker.auth,
    });
    const unknown = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/00000000-0000-4000-8000-000000000000`,
      headers: attacker.auth,
    });
    expect(del.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect((await me(t.app, victim.auth)).statusCode).toBe(200);
  });

  it('signs out every other device and keeps this one', async () => {
    const m = await registerOrg(t.app);
    const phone = await signIn(t.app, m.email);
    const tablet = await signIn(t.app, m.email);
    await me(t.app, phone.auth);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/sessions/terminate-others',
      headers: m.auth,
    });
    expect(res.json()).toEqual({ revoked: 2 });
    expect((await me(t.app, phone.auth)).statusCode).toBe(401);
    expect((await me(t.app, tablet.auth)).statusCode).toBe(401);
    expect((await me(t.app, m.auth)).statusCode).toBe(200);
  });

  it('logs out everywhere, this session included', async () => {
    const m = await registerOrg(t.app);
    const phone = await signIn(t.app, m.email);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout-all',
      headers: m.auth,
    });
    expect(res.json()).toEqual({ revoked: 2 });
    expect((await me(t.app, phone.auth)).statusCode).toBe(401);
    expect((await me(t.app, m.auth)).statusCode).toBe(401);
  });

  it('changing the password ends every other session, and only the new password signs in', async () => {
    const m = await registerOrg(t.app);
    const stolen = await signIn(t.app, m.email);
    await me(t.app, stolen.auth);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: m.auth,
      payload: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(res.statusCode).toBe(204);
    expect((await me(t.app, stolen.auth)).statusCode).toBe(401);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/refresh',
          headers: { 'x-auth-mode': 'token' },
          payload: { refreshToken: stolen.refreshToken },
        })
      ).statusCode,
    ).toBe(401);
    expect((await me(t.app, m.auth)).statusCode).toBe(200);
    await expect(signIn(t.app, m.email)).rejects.toThrow(/401/);
    await expect(signIn(t.app, m.email, NEW_PASSWORD)).resolves.toBeTruthy();
  });

  it.each([
    [
      'a wrong current password',
      { currentPassword: 'not-the-password-at-all', newPassword: NEW_PASSWORD },
      401,
    ],
    ['a weak new password', { currentPassword: PASSWORD, newPassword: 'short' }, 400],
    ['an unknown key', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, userId: 'x' }, 400],
  ])('refuses a password change with %s and changes nothing', async (_, payload, status) => {
    const m = await registerOrg(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: m.auth,
      payload,
    });
    expect(res.statusCode).toBe(status);
    await expect(signIn(t.app, m.email)).resolves.toBeTruthy();
  });
});
