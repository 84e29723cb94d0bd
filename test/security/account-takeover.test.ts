import type { LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, registerOrg, type Member, type TestApp } from '../helpers/app.js';
import { expectProblem, membersApp, patchUser } from '../members/members.js';
import { codeAt, enrol, login, post, wrongCode } from '../mfa/helpers.js';

/**
 * Issue 9, finding 1: an attacker holding only a stolen session (a copied cookie or access
 * token) must not be able to take the account over: not by setting a new password or
 * email, not by enrolling their own authenticator, not by skipping the second factor.
 */
const NEW_PASSWORD = 'violet-compass-meadow-97-slowly';
let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const signsIn = async (email: string, password = PASSWORD) =>
  (await post(t.app, '/auth/login', { email, password }, { 'x-auth-mode': 'token' })).statusCode;
const me = (m: Member) => t.app.inject({ url: '/api/v1/auth/me', headers: m.auth });
const freshEmail = () => `new-${randomUUID()}@example.test`;

type Attempt = (m: Member) => Promise<LightMyRequestResponse>;

describe('a stolen session alone (no password) cannot take the account over', () => {
  const attacks: [string, Attempt, number, string][] = [
    [
      'PATCH /users/{own id} with a new password',
      (m) => patchUser(t.app, m, m.userId, { password: NEW_PASSWORD }),
      403,
      'forbidden',
    ],
    [
      'PATCH /users/{own id} with a new email',
      (m) => patchUser(t.app, m, m.userId, { email: freshEmail() }),
      403,
      'forbidden',
    ],
    [
      '/auth/password without the current password',
      (m) => post(t.app, '/auth/password', { newPassword: NEW_PASSWORD }, m.auth),
      400,
      'validation_failed',
    ],
    [
      '/auth/password with a guessed current password',
      (m) =>
        post(
          t.app,
          '/auth/password',
          { currentPassword: 'guess-guess-guess-guess', newPassword: NEW_PASSWORD },
          m.auth,
        ),
      401,
      'invalid_credentials',
    ],
    [
      '/auth/email without the current password',
      (m) => post(t.app, '/auth/email', { newEmail: freshEmail() }, m.auth),
      400,
      'validation_failed',
    ],
    [
      '/auth/email with a guessed current password',
      (m) =>
        post(
          t.app,
          '/auth/email',
          { currentPassword: 'guess-guess-guess-guess', newEmail: freshEmail() },
          m.auth,
        ),
      401,
      'invalid_credentials',
    ],
  ];

  it.each(attacks)(
    'refuses %s, and the owner still signs in as before',
    async (_what, attempt, status, code) => {
      const victim = await registerOrg(t.app, 'Victim');
      expectProblem(await attempt(victim), status, code);
      expect(await signsIn(victim.email)).toBe(200);
      expect(await signsIn(victim.email, NEW_PASSWORD)).toBe(401);
      expect((await me(victim)).statusCode).toBe(200);
    },
  );

  it("refuses to enrol the attacker's authenticator without the password (nothing is enabled)", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const setup = await post(t.app, '/auth/mfa/totp/setup', undefined, victim.auth);
    const { secret } = setup.json<{ secret: string }>();
    const code = await codeAt(secret);
    expectProblem(
      await post(t.app, '/auth/mfa/totp/enable', { code }, victim.auth),
      400,
      'validation_failed',
    );
    expectProblem(
      await post(
        t.app,
        '/auth/mfa/totp/enable',
        { code, password: 'guess-guess-guess-guess' },
        victim.auth,
      ),
      401,
      'invalid_credentials',
    );
    expect((await me(victim)).json<{ user: { mfaEnabled: boolean } }>().user.mfaEnabled).toBe(
      false,
    );
  });
});

describe('with TOTP on, the password alone is not enough either', () => {
  const changes: [string, (m: Member, code?: string) => Promise<LightMyRequestResponse>][] = [
    [
      '/auth/password',
      (m, code) =>
        post(
          t.app,
          '/auth/password',
          { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, ...(code && { code }) },
          m.auth,
        ),
    ],
    [
      '/auth/email',
      (m, code) =>
        post(
          t.app,
          '/auth/email',
          { currentPassword: PASSWORD, newEmail: freshEmail(), ...(code && { code }) },
          m.auth,
        ),
    ],
  ];

  it.each(changes)(
    '%s without a code answers mfa_required and changes nothing',
    async (_route, change) => {
      const member = await registerOrg(t.app, 'Org');
      await enrol(t.app, member);
      expectProblem(await change(member), 401, 'mfa_required');
      expect(await signsIn(member.email)).toBe(401); // mfa_required: the password still stands
      expect((await login(t.app, member.email)).json<{ code: string }>().code).toBe('mfa_required');
    },
  );

  it.each(changes)(
    '%s with a wrong code answers invalid_mfa_code and changes nothing',
    async (_route, change) => {
      const member = await registerOrg(t.app, 'Org');
      const { secret } = await enrol(t.app, member);
      expectProblem(await change(member, await wrongCode(secret)), 401, 'invalid_mfa_code');
      expect((await login(t.app, member.email)).json<{ code: string }>().code).toBe('mfa_required');
    },
  );

  it.each(changes)(
    '%s with a recovery code succeeds, and that code is spent',
    async (_route, change) => {
      const member = await registerOrg(t.app, 'Org');
      const { recoveryCodes } = await enrol(t.app, member);
      const res = await change(member, recoveryCodes[0]);
      expect(res.statusCode, res.body).toBeLessThan(300);
      const again = await post(
        t.app,
        '/auth/mfa/totp/disable',
        { password: res.statusCode === 204 ? NEW_PASSWORD : PASSWORD, code: recoveryCodes[0] },
        member.auth,
      );
      expectProblem(again, 401, 'invalid_mfa_code');
    },
  );

  it('turning TOTP off needs the password and a code', async () => {
    const member = await registerOrg(t.app, 'Org');
    const { secret } = await enrol(t.app, member);
    expectProblem(
      await post(
        t.app,
        '/auth/mfa/totp/disable',
        { password: 'guess-guess-guess-guess', code: await codeAt(secret, 1) },
        member.auth,
      ),
      401,
      'invalid_credentials',
    );
    expectProblem(
      await post(
        t.app,
        '/auth/mfa/totp/disable',
        { password: PASSWORD, code: await wrongCode(secret) },
        member.auth,
      ),
      401,
      'invalid_mfa_code',
    );
    expect((await me(member)).json<{ user: { mfaEnabled: boolean } }>().user.mfaEnabled).toBe(true);
  });
});

describe('the owner changes their own credentials', () => {
  it('changes the email with the current password: the new one signs in, the old one does not', async () => {
    const member = await registerOrg(t.app, 'Org');
    const newEmail = freshEmail();
    const res = await post(
      t.app,
      '/auth/email',
      { currentPassword: PASSWORD, newEmail: newEmail.toUpperCase() },
      member.auth,
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ user: { email: string } }>().user.email).toBe(newEmail);
    expect(await signsIn(newEmail)).toBe(200);
    expect(await signsIn(member.email)).toBe(401);
  });

  it('refuses an email another account holds (409) and keeps its own', async () => {
    const member = await registerOrg(t.app, 'Org');
    const other = await registerOrg(t.app, 'Other');
    expectProblem(
      await post(
        t.app,
        '/auth/email',
        { currentPassword: PASSWORD, newEmail: other.email },
        member.auth,
      ),
      409,
      'conflict',
    );
    expect(await signsIn(member.email)).toBe(200);
  });

  it('records failed re-authentications as security events', async () => {
    const owner = await registerOrg(t.app, 'Org');
    await post(
      t.app,
      '/auth/email',
      { currentPassword: 'guess-guess-guess-guess', newEmail: freshEmail() },
      owner.auth,
    );
    const events = await t.app.inject({ url: '/api/v1/security-events', headers: owner.auth });
    const types = events.json<{ data: { type: string; metadata: { purpose?: string } }[] }>().data;
    expect(types).toContainEqual(
      expect.objectContaining({
        type: 'reauth_failed',
        metadata: expect.objectContaining({ purpose: 'email' }),
      }),
    );
  });
});
