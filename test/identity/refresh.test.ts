import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { expectProblem } from '../helpers/problems.js';
import { me, refresh } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('refresh token rotation', () => {
  it('trades a refresh token for a working pair, once', async () => {
    const m = await registerOrg(t.app);
    const first = await refresh(t.app, m.refreshToken);
    expect(first.statusCode).toBe(200);
    const pair = first.json();
    expect(pair).toMatchObject({ expiresIn: 900 });
    expect(pair.refreshToken).not.toBe(m.refreshToken);
    expect((await me(t.app, { authorization: `Bearer ${pair.accessToken}` })).statusCode).toBe(200);
    expect((await refresh(t.app, pair.refreshToken)).statusCode).toBe(200);
  });

  it('treats a replayed refresh token as theft: 401 token_reused and the whole session ends', async () => {
    const m = await registerOrg(t.app);
    const rotated = (await refresh(t.app, m.refreshToken)).json();
    const replay = await refresh(t.app, m.refreshToken);
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'token_reused' });
    // The thief's and the owner's newest tokens are dead too, at once.
    expect((await refresh(t.app, rotated.refreshToken)).statusCode).toBe(401);
    expect((await me(t.app, { authorization: `Bearer ${rotated.accessToken}` })).statusCode).toBe(
      401,
    );
    expect((await me(t.app, m.auth)).statusCode).toBe(401);
  });

  it('lets exactly one of ten concurrent refreshes with one token win', async () => {
    const m = await registerOrg(t.app);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => refresh(t.app, m.refreshToken)),
    );
    const won = answers.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    for (const r of answers.filter((a) => a.statusCode !== 200)) {
      expect(r.statusCode).toBe(401);
    }
  });

  it.each([
    ['an unknown token', 'A'.repeat(43)],
    ['an empty token', ''],
    ['an overlong token', 'x'.repeat(500)],
  ])('refuses %s', async (_, token) => {
    const res = await refresh(t.app, token);
    expect([400, 401]).toContain(res.statusCode);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });

  it('refuses a refresh with neither cookie nor token', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh' });
    expect(res.statusCode).toBe(401);
  });

  // Issue 9: a body token without X-Auth-Mode used to answer a bare 401, as if the token
  // were bad, leaving the client guessing; the token is not spent either.
  it('says a body refresh token needs X-Auth-Mode: token, and leaves the token usable', async () => {
    const m = await registerOrg(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: m.refreshToken },
    });
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.detail).toMatch(/X-Auth-Mode: token/);
    expect(body.errors).toEqual([expect.objectContaining({ path: 'headers.x-auth-mode' })]);
    expect((await refresh(t.app, m.refreshToken)).statusCode).toBe(200);
  });

  it('rotates the refresh cookie in cookie mode and never echoes tokens in the body', async () => {
    const m = await registerOrg(t.app);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: m.email, password: 'plum-harbor-lantern-42-quietly' },
    });
    const cookie = login.cookies.find((c) => c.name.endsWith('bastion_refresh'))!;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      cookies: { [cookie.name]: cookie.value },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).not.toHaveProperty('refreshToken');
    const next = res.cookies.find((c) => c.name === cookie.name)!;
    expect(next.value).not.toBe(cookie.value);
    expect(next).toMatchObject({ httpOnly: true, path: '/api/v1/auth', sameSite: 'Strict' });
  });

  it('refuses a refresh once the session passed its idle deadline', async () => {
    const m = await registerOrg(t.app);
    const { sessions } = await import('../../src/db/schema.js');
    const { eq } = await import('drizzle-orm');
    await t.db.withOrg(m.orgId, (tx) =>
      tx
        .update(sessions)
        .set({ idleExpiresAt: new Date(Date.now() - 1000) })
        .where(eq(sessions.userId, m.userId)),
    );
    expect((await refresh(t.app, m.refreshToken)).statusCode).toBe(401);
  });
});
