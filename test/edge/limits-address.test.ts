import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { newIp } from '../identity/helpers.js';
import { badLogin, expectLimited, list, MAX, owner, spend } from './limit-helpers.js';

/**
 * CONTRACT section 5: an unauthenticated request counts against its address, and only
 * the address a trusted proxy reports (X-Forwarded-For counts only under TRUST_PROXY).
 * Addresses are per test: with Redis the counters are shared by the whole run.
 */

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ RATE_LIMIT_MAX: String(MAX) });
});
afterAll(() => t.close());

describe('the general limit per address', () => {
  it('limits anonymous requests per address, and only that address', async () => {
    const ip = newIp();
    await spend(MAX, () => badLogin(t.app, ip));
    const over = await badLogin(t.app, ip);
    expectLimited(over);
    expect(over.headers['ratelimit-limit']).toBe(String(MAX));
    expect((await badLogin(t.app, newIp())).statusCode).toBe(401);
  });

  it.each([
    ['made-up API keys', { authorization: `Bearer bsk_${'A'.repeat(43)}` }],
    ['made-up bearer tokens', { authorization: 'Bearer not.a.token' }],
    ['no credential at all', {}],
  ])('spends the address budget on a flood of %s', async (_name, headers) => {
    const ip = newIp();
    const a = await owner(t.app, ip); // the address's first request
    await spend(MAX - 1, () => list(t.app, ip, headers));
    expectLimited(await list(t.app, ip, headers));
    expectLimited(await list(t.app, ip, { authorization: `Bearer bsk_${'B'.repeat(43)}` }));
    // A real session from the same address still counts against its user only.
    expect((await list(t.app, ip, a.auth)).statusCode).toBe(200);
  });

  // Issue 9, finding 3: a revoked token used to pass the block on its signature alone, and
  // cost a session lookup per request.
  it('treats a revoked access token as no credential: it spends the address budget and is turned away', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip); // the address's first request
    const logout = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: a.auth,
      remoteAddress: ip,
    });
    expect(logout.statusCode).toBe(204);
    await spend(MAX - 1, () => list(t.app, ip, a.auth));
    expectLimited(await list(t.app, ip, a.auth));
    expectLimited(await list(t.app, ip, a.auth));
  });

  it('counts /auth routes under the general limit as well as under AUTH_IP', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip);
    await spend(MAX - 1, () => badLogin(t.app, ip));
    expectLimited(await badLogin(t.app, ip));
    // The signed-in user's own /auth calls count against the user, not the spent address.
    const me = await t.app.inject({ url: '/api/v1/auth/me', headers: a.auth, remoteAddress: ip });
    expect(me.statusCode).not.toBe(429);
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: a spoofed header buys no new budget', async () => {
    const ip = newIp();
    await spend(MAX, () => badLogin(t.app, ip, { 'x-forwarded-for': newIp() }));
    expectLimited(await badLogin(t.app, ip, { 'x-forwarded-for': newIp() }));
  });

  it('counts an IPv6 client by its /64, which it can rotate through at will', async () => {
    const net = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:7`;
    await spend(MAX, () =>
      badLogin(t.app, `${net}::${Math.floor(Math.random() * 0xffff).toString(16)}`),
    );
    expectLimited(await badLogin(t.app, `${net}:aaaa:bbbb:cccc:dddd`));
    expect((await badLogin(t.app, `${net}1::1`)).statusCode).toBe(401);
  });

  it.each(['/health', '/ready', '/metrics'])('never limits %s', async (url) => {
    const ip = newIp();
    for (let i = 0; i < MAX * 2; i++) {
      const res = await t.app.inject({ url, remoteAddress: ip });
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('behind a trusted proxy (TRUST_PROXY=1)', () => {
  let proxied: TestApp;
  beforeAll(async () => {
    proxied = await testApp({ RATE_LIMIT_MAX: String(MAX), TRUST_PROXY: '1' });
  });
  afterAll(() => proxied.close());

  it('counts the client the proxy saw, whatever the client wrote before it', async () => {
    const proxy = newIp();
    const client = newIp();
    const via = (forged: string) => ({ 'x-forwarded-for': `${forged}, ${client}` });
    await spend(MAX, () => badLogin(proxied.app, proxy, via(newIp())));
    expectLimited(await badLogin(proxied.app, proxy, via(newIp())));
    // Another client of the same proxy has a budget of its own.
    expect((await badLogin(proxied.app, proxy, { 'x-forwarded-for': newIp() })).statusCode).toBe(
      401,
    );
  });
});
