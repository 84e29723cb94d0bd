import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOrg, testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('an organization that requires MFA', () => {
  it('confines members without a second factor to enrolment and their own session', async () => {
    const owner = await registerOrg(t.app);
    const before = await t.app.inject({ url: '/api/v1/customers', headers: owner.auth });
    expect(before.statusCode).toBe(200);
    const policy = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: owner.auth,
      payload: { requireMfa: true },
    });
    expect(policy.statusCode).toBe(200);
    for (const url of ['/api/v1/customers', '/api/v1/users', '/api/v1/organization']) {
      const res = await t.app.inject({ url, headers: owner.auth });
      expect(res.statusCode, url).toBe(403);
      expect(res.json()).toMatchObject({ code: 'forbidden' });
    }
    for (const url of ['/api/v1/auth/me', '/api/v1/sessions']) {
      expect((await t.app.inject({ url, headers: owner.auth })).statusCode, url).toBe(200);
    }
    const setup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/mfa/totp/setup',
      headers: owner.auth,
    });
    expect(setup.statusCode).toBe(200);
  });

  it('leaves other organizations alone', async () => {
    const strict = await registerOrg(t.app);
    const relaxed = await registerOrg(t.app);
    await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: strict.auth,
      payload: { requireMfa: true },
    });
    expect(
      (await t.app.inject({ url: '/api/v1/customers', headers: relaxed.auth })).statusCode,
    ).toBe(200);
  });
});
