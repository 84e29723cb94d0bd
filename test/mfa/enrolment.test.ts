import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { TOTP_PENDING_SECRET, TOTP_SECRET } from '../../src/db/schema/mfa.js';
import { PASSWORD, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import {
  asOwner,
  challenge,
  codeAt,
  enrol,
  login,
  post,
  storedTotp,
  wrongCode,
} from './helpers.js';

/** CONTRACT section 3: POST /auth/mfa/totp/{setup,enable,disable}. */

let t: TestApp;
let owner: Member;

beforeEach(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Enrol');
});
afterEach(() => t.close());

const me = async (member: Member) =>
  (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: member.auth })).json();

describe('setup and enable', () => {
  it('gives a 160-bit secret and an otpauth URL for Bastion and the email', async () => {
    const res = await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { secret, otpauthUrl } = res.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(otpauthUrl);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe(`/Bastion:${owner.email}`);
    expect(url.searchParams.get('secret')).toBe(secret);
    expect(url.searchParams.get('issuer')).toBe('Bastion');
  });

  it('stores the secret only encrypted, pending and then active', async () => {
    const { secret } = (await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth)).json();
    const pending = await storedTotp(t.db, owner.userId);
    expect(pending?.secret).toBeNull();
    expect(pending?.pending_secret).toMatch(/^v1\./);
    expect(pending?.pending_secret).not.toContain(secret);
    expect(
      t.app.ctx.keyring.decrypt(pending!.pending_secret!, owner.orgId, TOTP_PENDING_SECRET),
    ).toBe(secret);

    const enable = await post(
      t.app,
      '/auth/mfa/totp/enable',
      { code: await codeAt(secret), password: PASSWORD },
      owner.auth,
    );
    expect(enable.statusCode).toBe(200);
    const active = await storedTotp(t.db, owner.userId);
    expect(active?.pending_secret).toBeNull();
    expect(active?.secret).toMatch(/^v1\./);
    expect(active?.secret).not.toContain(secret);
    expect(t.app.ctx.keyring.decrypt(active!.secret!, owner.orgId, TOTP_SECRET)).toBe(secret);
    expect((await me(owner)).user.mfaEnabled).toBe(true);
  });

  it('never returns the secret after setup', async () => {
    const setup = await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth);
    const { secret } = setup.json();
    const enable = await post(
      t.app,
      '/auth/mfa/totp/enable',
      { code: await codeAt(secret), password: PASSWORD },
      owner.auth,
    );
    const answers = [
      enable,
      await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: owner.auth }),
      await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth),
      await login(t.app, owner.email),
    ];
    const mfaToken = answers[3]!.json().mfaToken;
    answers.push(await post(t.app, '/auth/login/mfa', { mfaToken, code: await codeAt(secret, 1) }));
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 409, 401, 200]);
    for (const a of answers) expect(a.body).not.toContain(secret);
  });

  it('gives ten distinct high-entropy recovery codes and keeps only their hashes', async () => {
    const { recoveryCodes } = await enrol(t.app, owner);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const c of recoveryCodes) expect(c).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){5}$/);
    const stored = await asOwner<{ code_hash: Buffer | Uint8Array }>(
      t.db,
      sql`select code_hash from mfa_recovery_codes where user_id = ${owner.userId}`,
    );
    expect(stored).toHaveLength(10);
    for (const { code_hash } of stored) {
      expect(code_hash.length).toBe(32);
      const text = Buffer.from(code_hash).toString('latin1');
      for (const c of recoveryCodes) expect(text).not.toContain(c.replaceAll('-', ''));
    }
  });

  it.each([
    ['enable with a wrong code', 'wrong', 401, 'invalid_mfa_code'],
    ['enable before setup', 'no-setup', 409, 'conflict'],
    ['enable with a non-numeric code', 'abcdef', 400, 'validation_failed'],
  ])('refuses %s and leaves MFA off', async (_case, kind, status, code) => {
    let value = kind;
    if (kind !== 'no-setup') {
      const { secret } = (await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth)).json();
      if (kind === 'wrong') value = await wrongCode(secret);
    } else value = '123456';
    const res = await post(
      t.app,
      '/auth/mfa/totp/enable',
      { code: value, password: PASSWORD },
      owner.auth,
    );
    expect([res.statusCode, res.json().code]).toEqual([status, code]);
    expect((await me(owner)).user.mfaEnabled).toBe(false);
    expect((await login(t.app, owner.email)).statusCode).toBe(200);
  });

  it('refuses to set up or enable again while enrolled: the secret cannot be swapped', async () => {
    await enrol(t.app, owner);
    const before = await storedTotp(t.db, owner.userId);
    const setup = await post(t.app, '/auth/mfa/totp/setup', undefined, owner.auth);
    const enable = await post(
      t.app,
      '/auth/mfa/totp/enable',
      { code: '123456', password: PASSWORD },
      owner.auth,
    );
    expect([setup.statusCode, enable.statusCode]).toEqual([409, 409]);
    expect(await storedTotp(t.db, owner.userId)).toEqual(before);
  });

  it('refuses setup without a session, and with a body key the client may not set', async () => {
    const anonymous = await post(t.app, '/auth/mfa/totp/setup', undefined);
    expect(anonymous.statusCode).toBe(401);
    const chosen = await post(
      t.app,
      '/auth/mfa/totp/setup',
      { secret: 'A'.repeat(32) },
      owner.auth,
    );
    expect([chosen.statusCode, chosen.json().code]).toEqual([400, 'validation_failed']);
  });

  it('refuses a cookie-authenticated setup without the CSRF token', async () => {
    const signIn = await login(t.app, owner.email, 'cookie');
    const access = [signIn.headers['set-cookie']]
      .flat()
      .map((c) => String(c).split(';')[0]!)
      .find((c) => c.includes('bastion_access='))!;
    const res = await post(t.app, '/auth/mfa/totp/setup', undefined, { cookie: access });
    expect([res.statusCode, res.json().code]).toEqual([403, 'csrf_failed']);
  });

  it("keeps MFA rows inside their organization (RLS): another org's scope sees none", async () => {
    await enrol(t.app, owner);
    const other = await registerOrg(t.app, 'Other');
    const seen = await t.db.withOrg(other.orgId, async (tx) => ({
      totp: await rows(tx, sql`select user_id from user_totp`),
      codes: await rows(tx, sql`select code_hash from mfa_recovery_codes`),
    }));
    expect(seen).toEqual({ totp: [], codes: [] });
    const noScope = await t.db.withoutOrg((tx) => rows(tx, sql`select user_id from user_totp`));
    expect(noScope).toEqual([]);
  });
});

describe('disable', () => {
  type Codes = { next: string; spent: string; wrong: string };
  it.each([
    ['a stolen session without the password', (c: Codes) => ({ code: c.next }), 400],
    ['a wrong password', (c: Codes) => ({ password: `${PASSWORD}x`, code: c.next }), 401],
    ['the password without a code', () => ({ password: PASSWORD }), 400],
    ['the password and a wrong code', (c: Codes) => ({ password: PASSWORD, code: c.wrong }), 401],
    [
      'the password and a replayed code',
      (c: Codes) => ({ password: PASSWORD, code: c.spent }),
      401,
    ],
  ])('refuses %s and MFA stays on', async (_attack, body, status) => {
    const { secret } = await enrol(t.app, owner);
    const codes = {
      next: await codeAt(secret, 1),
      spent: await codeAt(secret, 0),
      wrong: await wrongCode(secret),
    };
    const res = await post(t.app, '/auth/mfa/totp/disable', body(codes), owner.auth);
    expect(res.statusCode).toBe(status);
    expect((await me(owner)).user.mfaEnabled).toBe(true);
    expect((await login(t.app, owner.email)).json().code).toBe('mfa_required');
  });

  it.each([
    ['a TOTP code', (e: { secret: string }) => codeAt(e.secret, 1)],
    ['a recovery code', (e: { recoveryCodes: string[] }) => Promise.resolve(e.recoveryCodes[0]!)],
  ])('turns MFA off with the password and %s, leaving nothing behind', async (_with, code) => {
    const enrolment = await enrol(t.app, owner);
    const res = await post(
      t.app,
      '/auth/mfa/totp/disable',
      { password: PASSWORD, code: await code(enrolment) },
      owner.auth,
    );
    expect(res.statusCode).toBe(204);
    expect((await me(owner)).user.mfaEnabled).toBe(false);
    expect((await login(t.app, owner.email)).statusCode).toBe(200);
    expect(await storedTotp(t.db, owner.userId)).toBeUndefined();
    const codes = await asOwner(
      t.db,
      sql`select 1 from mfa_recovery_codes where user_id = ${owner.userId}`,
    );
    expect(codes).toEqual([]);
  });

  it('kills an open sign-in challenge when MFA is turned off', async () => {
    const { secret: s } = await enrol(t.app, owner);
    const mfaToken = await challenge(t.app, owner.email);
    await post(
      t.app,
      '/auth/mfa/totp/disable',
      { password: PASSWORD, code: await codeAt(s, 1) },
      owner.auth,
    );
    const res = await post(t.app, '/auth/login/mfa', { mfaToken, code: await codeAt(s, -1) });
    expect([res.statusCode, res.json().code]).toEqual([401, 'invalid_mfa_code']);
  });

  it('answers 409 when MFA is not on', async () => {
    const res = await post(
      t.app,
      '/auth/mfa/totp/disable',
      { password: PASSWORD, code: '123456' },
      owner.auth,
    );
    expect(res.statusCode).toBe(409);
  });
});
