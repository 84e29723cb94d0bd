import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import {
  advanceSteps,
  challenge,
  codeAt,
  enrol,
  login,
  secondStep,
  wrongCode,
  type Enrolment,
} from './helpers.js';

/** CONTRACT section 3 (MFA), issue 3 item 5: the second sign-in step and its attacks. */

let t: TestApp;
let owner: Member;
let mfa: Enrolment;

beforeEach(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Mfa');
  mfa = await enrol(t.app, owner);
});
afterEach(async () => {
  vi.useRealTimers();
  await t.close();
});

const problem = (res: { statusCode: number; json(): unknown }) => ({
  status: res.statusCode,
  code: (res.json() as { code?: string }).code,
});

describe('the password step of an enrolled user', () => {
  it.each(['token', 'cookie'] as const)(
    'answers 401 mfa_required with an mfaToken and no cookie or token (%s mode)',
    async (mode) => {
      const res = await login(t.app, owner.email, mode);
      expect(problem(res)).toEqual({ status: 401, code: 'mfa_required' });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['cache-control']).toBe('no-store');
      const body = res.json();
      expect(body.mfaToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(body.expiresIn).toBe(300);
      for (const key of ['accessToken', 'refreshToken', 'csrfToken', 'user', 'organization']) {
        expect(body).not.toHaveProperty(key);
      }
    },
  );
});

describe('the second step', () => {
  it('signs in with a real TOTP code (token mode): a working session only now', async () => {
    const res = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      await codeAt(mfa.secret, 1),
    );
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.user).toMatchObject({ id: owner.userId, mfaEnabled: true });
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().sessionId).toBeDefined();
  });

  it('signs in with a real TOTP code (cookie mode): the session cookies come with it', async () => {
    const res = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      await codeAt(mfa.secret, 1),
      {},
    );
    expect(res.statusCode, res.body).toBe(200);
    const cookies = [res.headers['set-cookie']].flat().join('\n');
    expect(cookies).toContain('bastion_access=');
    expect(cookies).toContain('bastion_refresh=');
    expect(res.json().csrfToken).toEqual(expect.any(String));
  });

  it.each([
    ['a replayed code (its step was spent at enrolment)', 0],
    ['a code two steps old', -2],
    ['a code two steps ahead', 2],
  ])('refuses %s: 401 invalid_mfa_code, no session', async (_attack, offset) => {
    const res = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      await codeAt(mfa.secret, offset),
    );
    expect(problem(res)).toEqual({ status: 401, code: 'invalid_mfa_code' });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a code replayed after it signed in once: each step once per user', async () => {
    const code = await codeAt(mfa.secret, 1);
    expect((await secondStep(t.app, await challenge(t.app, owner.email), code)).statusCode).toBe(
      200,
    );
    const replay = await secondStep(t.app, await challenge(t.app, owner.email), code);
    expect(problem(replay)).toEqual({ status: 401, code: 'invalid_mfa_code' });
  });

  it('refuses a stale code three steps old, though its step was never used', async () => {
    advanceSteps(5); // enrolment spent step T; now at T+5, T+2 is unspent but stale
    const mfaToken = await challenge(t.app, owner.email);
    const stale = await secondStep(t.app, mfaToken, await codeAt(mfa.secret, -3));
    expect(problem(stale)).toEqual({ status: 401, code: 'invalid_mfa_code' });
    const previous = await secondStep(t.app, mfaToken, await codeAt(mfa.secret, -1));
    expect(previous.statusCode, previous.body).toBe(200);
  });

  it('kills the challenge after five wrong codes: then even the right code is refused', async () => {
    const mfaToken = await challenge(t.app, owner.email);
    const wrong = await wrongCode(mfa.secret);
    for (let i = 0; i < 5; i++) {
      expect(problem(await secondStep(t.app, mfaToken, wrong))).toEqual({
        status: 401,
        code: 'invalid_mfa_code',
      });
    }
    const right = await secondStep(t.app, mfaToken, await codeAt(mfa.secret, 1));
    expect(problem(right)).toEqual({ status: 401, code: 'invalid_mfa_code' });
    // A new password step opens a new challenge, where the same code works.
    const fresh = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      await codeAt(mfa.secret, 1),
    );
    expect(fresh.statusCode).toBe(200);
  });

  it('throttles guessing across challenges: ten wrong codes, then 429 even for the right one', async () => {
    const wrong = await wrongCode(mfa.secret);
    for (let c = 0; c < 2; c++) {
      const mfaToken = await challenge(t.app, owner.email);
      for (let i = 0; i < 5; i++) await secondStep(t.app, mfaToken, wrong);
    }
    const res = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      await codeAt(mfa.secret, 1),
    );
    expect(problem(res)).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('accepts a recovery code once, in any case and spacing; then refuses it', async () => {
    const code = mfa.recoveryCodes[3]!;
    const first = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      code.toUpperCase().replaceAll('-', ' '),
    );
    expect(first.statusCode, first.body).toBe(200);
    const again = await secondStep(t.app, await challenge(t.app, owner.email), code);
    expect(problem(again)).toEqual({ status: 401, code: 'invalid_mfa_code' });
    const another = await secondStep(
      t.app,
      await challenge(t.app, owner.email),
      mfa.recoveryCodes[4]!,
    );
    expect(another.statusCode).toBe(200);
  });

  it("refuses another user's TOTP code and recovery code", async () => {
    const other = await registerOrg(t.app, 'Other');
    const theirs = await enrol(t.app, other);
    const mfaToken = await challenge(t.app, owner.email);
    for (const code of [await codeAt(theirs.secret, 1), theirs.recoveryCodes[0]!]) {
      expect(problem(await secondStep(t.app, mfaToken, code))).toEqual({
        status: 401,
        code: 'invalid_mfa_code',
      });
    }
  });

  it('refuses a challenge after its five minutes', async () => {
    const mfaToken = await challenge(t.app, owner.email);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 301_000);
    const res = await secondStep(t.app, mfaToken, await codeAt(mfa.secret));
    expect(problem(res)).toEqual({ status: 401, code: 'invalid_mfa_code' });
  });

  it('lets one mfaToken make one session only, even raced', async () => {
    const mfaToken = await challenge(t.app, owner.email);
    const code = await codeAt(mfa.secret, 1);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => secondStep(t.app, mfaToken, code)),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    const later = await secondStep(t.app, mfaToken, await codeAt(mfa.secret, -1));
    expect(problem(later)).toEqual({ status: 401, code: 'invalid_mfa_code' });
  });

  it('lets one code win once across two open challenges raced', async () => {
    const tokens = [await challenge(t.app, owner.email), await challenge(t.app, owner.email)];
    const code = await codeAt(mfa.secret, 1);
    const results = await Promise.all(tokens.map((m) => secondStep(t.app, m, code)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });
});

describe('the mfaToken is no credential', () => {
  it.each([
    ['a Bearer access token', (m: string) => ({ authorization: `Bearer ${m}` })],
    ['the access cookie', (m: string) => ({ cookie: `__Host-bastion_access=${m}` })],
  ])('is refused as %s', async (_as, headers) => {
    const mfaToken = await challenge(t.app, owner.email);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: headers(mfaToken),
    });
    expect(res.statusCode).toBe(401);
  });

  it('is refused as a refresh token', async () => {
    const mfaToken = await challenge(t.app, owner.email);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: { 'x-auth-mode': 'token' },
      payload: { refreshToken: mfaToken },
    });
    expect(res.statusCode).toBe(401);
  });

  it.each([
    ['an unknown token', { mfaToken: 'A'.repeat(43), code: '123456' }, 401],
    ['a missing code', { mfaToken: 'A'.repeat(43) }, 400],
    ['an extra key', { mfaToken: 'A'.repeat(43), code: '123456', userId: 'x' }, 400],
    ['a code with markup', { mfaToken: 'A'.repeat(43), code: '<script>' }, 400],
  ])('answers %s with a problem', async (_case, payload, status) => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login/mfa', payload });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});

describe('a user without a second factor', () => {
  it('signs in with the password alone', async () => {
    const plain = await registerOrg(t.app, 'Plain');
    const res = await login(t.app, plain.email);
    expect(res.statusCode).toBe(200);
    expect(res.json().user.mfaEnabled).toBe(false);
  });
});
