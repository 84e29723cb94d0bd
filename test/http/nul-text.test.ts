import type { InjectOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newPhone,
  PASSWORD,
  registerOrg,
  testApp,
  type Member,
  type TestApp,
} from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';
import { expectProblem } from '../helpers/problems.js';
import { inboundText, postWebhook } from '../helpers/whatsapp.js';

/**
 * CONTRACT section 2: a NUL character in any text is validation_failed. PostgreSQL text
 * cannot store U+0000, so a NUL anywhere a client writes was a 500 mid-request; a lone
 * surrogate is not Unicode and would be stored altered. Refused up front wherever it is
 * (body strings and keys at any depth, query values, path parameters), naming the place,
 * and nothing is written.
 */

let t: TestApp;
let member: Member;
beforeAll(async () => {
  t = await testApp();
  member = await registerOrg(t.app, 'Nul');
});
afterAll(() => t.close());

const customer = (extra: Record<string, unknown>) =>
  JSON.stringify({ name: 'Ada', phone: newPhone(), ...extra });
const json = { 'content-type': 'application/json' };
const LONE_SURROGATE = '"\\ud800 tail"';

const cases: [string, () => InjectOptions, string][] = [
  [
    'a NUL in the login email',
    () => ({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: json,
      payload: JSON.stringify({ email: 'a\u0000@example.test', password: PASSWORD }),
    }),
    'body.email',
  ],
  [
    'a NUL in the register name',
    () => ({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { ...json, 'x-auth-mode': 'token' },
      payload: JSON.stringify({
        organizationName: 'Org',
        name: 'Eve\u0000',
        email: `nul-${randomUUID()}@example.test`,
        password: PASSWORD,
      }),
    }),
    'body.name',
  ],
  [
    'a NUL in customer notes',
    () => ({ method: 'POST', url: '/api/v1/customers', payload: customer({ notes: 'a\u0000b' }) }),
    'body.notes',
  ],
  [
    'a NUL in a customer tag',
    () => ({
      method: 'POST',
      url: '/api/v1/customers',
      payload: customer({ tags: ['ok', '\u0000'] }),
    }),
    'body.tags.1',
  ],
  [
    'a NUL in a nested key',
    () => ({
      method: 'POST',
      url: '/api/v1/customers',
      payload: customer({ extra: [{ 'k\u0000': 'v' }] }),
    }),
    'body.extra.0.k\\u0000',
  ],
  [
    'a lone surrogate in customer notes',
    () => ({
      method: 'POST',
      url: '/api/v1/customers',
      payload: `{"name":"Ada","phone":"${newPhone()}","notes":${LONE_SURROGATE}}`,
    }),
    'body.notes',
  ],
  [
    'a NUL in ?search=',
    () => ({ method: 'GET', url: '/api/v1/customers?search=al%00ice' }),
    'query.search',
  ],
  [
    'a NUL in a path parameter',
    () => ({ method: 'GET', url: '/api/v1/customers/%00' }),
    'params.id',
  ],
  [
    'a NUL in a path parameter of a write',
    () => ({ method: 'PATCH', url: '/api/v1/customers/%00', payload: { notes: 'x' } }),
    'params.id',
  ],
];

describe('NUL characters and lone surrogates in text', () => {
  it.each(cases)('%s is validation_failed, not a 500', async (_label, build, path) => {
    const request = build();
    const res = await t.app.inject({
      ...request,
      headers: { ...json, ...member.auth, ...request.headers },
    });
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    const list = await t.app.inject({ url: '/api/v1/customers', headers: member.auth });
    expect(list.json<{ data: unknown[] }>().data).toEqual([]);
  });

  it('a refused sign-up creates no account', async () => {
    const email = `nul-${randomUUID()}@example.test`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'x-auth-mode': 'token' },
      payload: { organizationName: 'Org\u0000', name: 'Eve', email, password: PASSWORD },
    });
    expectProblem(res, 400, 'validation_failed');
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password: PASSWORD },
    });
    expectProblem(login, 401, 'invalid_credentials');
  });

  it('a signed webhook whose text holds a NUL is still accepted (third-party data)', async () => {
    const channel = await createChannel(t.app, member);
    const body = JSON.stringify(
      inboundText(channel.phoneNumberId, { from: '16315551181', text: 'nul \u0000 here' }),
    );
    const res = await postWebhook(t.app, channel.id, body, { secret: channel.appSecret });
    expect(res.statusCode, res.body).toBe(200);
  });
});
