import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { refresh } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const events = async (owner: Member, type: string) => {
  const res = await t.app.inject({
    url: `/api/v1/security-events?type=${type}`,
    headers: owner.auth,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as { type: string; ip: string | null; requestId: string | null }[];
};

describe('security events an admin can read', () => {
  it('records a forged cookie request (no CSRF token) and a foreign Origin', async () => {
    const owner = await registerOrg(t.app);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: owner.email, password: PASSWORD },
    });
    const cookies = Object.fromEntries(login.cookies.map((c) => [c.name, c.value]));
    const forged = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      cookies,
      headers: { 'x-request-id': 'forged-1' },
      payload: { name: 'x', phone: '+15550001111' },
    });
    expect(forged.statusCode).toBe(403);
    const foreign = await t.app.inject({
      url: '/api/v1/customers',
      cookies,
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.statusCode).toBe(403);
    const csrf = await events(owner, 'csrf_failed');
    expect(csrf).toHaveLength(1);
    expect(csrf[0]).toMatchObject({ requestId: 'forged-1' });
    expect(await events(owner, 'cross_origin_refused')).toHaveLength(1);
  });

  it('records refresh token reuse', async () => {
    const owner = await registerOrg(t.app);
    const admin = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'x-auth-mode': 'token' },
      payload: { email: owner.email, password: PASSWORD },
    });
    const reader = { ...owner, auth: { authorization: `Bearer ${admin.json().accessToken}` } };
    await refresh(t.app, owner.refreshToken);
    expect((await refresh(t.app, owner.refreshToken)).statusCode).toBe(401);
    expect(await events(reader, 'refresh_token_reuse')).toHaveLength(1);
  });

  it('records failed sign-ins for a known account, without the password', async () => {
    const owner = await registerOrg(t.app);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: owner.email, password: 'a-wrong-password-123' },
    });
    const res = await t.app.inject({ url: '/api/v1/security-events', headers: owner.auth });
    expect(res.body).toContain('login_failed');
    expect(res.body).not.toContain('a-wrong-password-123');
  });
});
