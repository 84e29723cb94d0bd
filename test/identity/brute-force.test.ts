import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { newIp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ RATE_LIMIT_LOGIN_FAILURES: '5' });
});
afterAll(() => t.close());

const login = (email: string, password: string, ip = newIp()) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-auth-mode': 'token' },
    remoteAddress: ip,
    payload: { email, password },
  });

describe('online guessing', () => {
  it('locks an email after five failures: the right password then gets 429 with Retry-After', async () => {
    const m = await registerOrg(t.app);
    for (let i = 0; i < 5; i++) {
      expect((await login(m.email, `wrong-password-number-${i}`)).statusCode).toBe(401);
    }
    const locked = await login(m.email, PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toMatchObject({ code: 'rate_limited' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(locked.json()).not.toHaveProperty('accessToken');
  });

  it('locks per email, across addresses, and leaves other accounts alone', async () => {
    const victim = await registerOrg(t.app);
    const bystander = await registerOrg(t.app);
    for (let i = 0; i < 5; i++) await login(victim.email.toUpperCase(), `guess-${i}-xxxxxxxxxxxx`);
    expect((await login(victim.email, PASSWORD)).statusCode).toBe(429);
    expect((await login(bystander.email, PASSWORD)).statusCode).toBe(200);
  });

  it('lets no more than five guesses of a parallel burst reach the password check', async () => {
    const m = await registerOrg(t.app);
    const burst = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(m.email, `parallel-guess-${i}-xxxxxxxx`)),
    );
    expect(burst.filter((r) => r.statusCode === 401)).toHaveLength(5);
    expect(burst.filter((r) => r.statusCode === 429)).toHaveLength(15);
    expect((await login(m.email, PASSWORD)).statusCode).toBe(429);
  });

  it('makes a stolen session no password oracle: password changes share the limit', async () => {
    const m = await registerOrg(t.app);
    const change = (currentPassword: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password',
        headers: m.auth,
        payload: { currentPassword, newPassword: 'orchard-velvet-compass-77-slowly' },
      });
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => change(`not-it-${i}-xxxxxxxxxxxx`)),
    );
    expect(burst.filter((r) => r.statusCode === 401)).toHaveLength(5);
    expect(burst.filter((r) => r.statusCode === 429)).toHaveLength(3);
    expect((await change(PASSWORD)).statusCode).toBe(429);
  });

  it('locks unknown emails the same way (no enumeration by lockout)', async () => {
    const email = `ghost-${Date.now()}@example.test`;
    for (let i = 0; i < 5; i++)
      expect((await login(email, `guess-${i}-xxxxxxxxxxxx`)).statusCode).toBe(401);
    expect((await login(email, PASSWORD)).statusCode).toBe(429);
  });
});

describe('per-address limit on /auth', () => {
  it('answers 429 with RateLimit headers past RATE_LIMIT_AUTH_IP_MAX, for that address only', async () => {
    const limited = await testApp({ RATE_LIMIT_AUTH_IP_MAX: '3' });
    // A fresh email too: the per-email lockout must not be what answers here.
    const email = `nobody-${Date.now()}-${Math.random()}@example.test`;
    try {
      const ip = newIp();
      const hit = () =>
        limited.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: ip,
          payload: { email, password: 'whatever-whatever' },
        });
      const first = await hit();
      expect(first.headers['ratelimit-limit']).toBe('3');
      expect(first.headers['ratelimit-remaining']).toBe('2');
      await hit();
      await hit();
      const over = await hit();
      expect(over.statusCode).toBe(429);
      expect(over.json()).toMatchObject({ code: 'rate_limited' });
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      expect(over.headers['ratelimit-remaining']).toBe('0');
      const elsewhere = await limited.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: newIp(),
        payload: { email, password: 'whatever-whatever' },
      });
      expect(elsewhere.statusCode).toBe(401);
    } finally {
      await limited.close();
    }
  });
});
