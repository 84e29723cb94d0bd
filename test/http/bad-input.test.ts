import type { LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomer,
  newPhone,
  PASSWORD,
  registerOrg,
  testApp,
  type Member,
  type TestApp,
} from '../helpers/app.js';

/**
 * Hostile and malformed bodies on every route that takes one (CONTRACT sections 2 and 5):
 * each is refused with a stable problem code, and nothing about the server leaks.
 */

let t: TestApp;
beforeAll(async () => {
  // Many requests to /auth/* from one address: keep the per-IP auth limit out of the way.
  t = await testApp({ RATE_LIMIT_AUTH_IP_MAX: '100000', RATE_LIMIT_MAX: '100000' });
});
afterAll(() => t.close());

/** Things that must never reach a client: stack frames, SQL, driver names, file paths. */
const LEAKS: [string, RegExp][] = [
  ['a stack frame', /\bat \S+ \(|\bat \//],
  ['a stack', /"stack"/i],
  ['drizzle', /drizzle/i],
  ['postgres', /postgres|pglite/i],
  ['SQL', /\b(select|insert into|update \w+ set|delete from)\b/i],
  ['a file path', /(\/(work|home|usr|src|dist|node_modules|tmp)\/)|\.[cm]?[jt]s:\d+/],
];

/** Asserts the RFC 9457 shape of CONTRACT section 2 and that nothing leaks. */
function expectProblem(res: LightMyRequestResponse, status: number, code?: string | string[]) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json<Record<string, unknown>>();
  expect(body).toMatchObject({ status, requestId: res.headers['x-request-id'] });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.code).toBe('string');
  expect(typeof body.requestId).toBe('string');
  if (typeof code === 'string') expect(body.code).toBe(code);
  else if (code) expect(code).toContain(body.code);
  for (const [what, pattern] of LEAKS) {
    expect(pattern.test(res.body), `problem body contains ${what}: ${res.body}`).toBe(false);
  }
  return body;
}

interface Target {
  label: string;
  method: 'POST' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  /** A body this route would accept; a fresh one on each call. */
  valid: () => Record<string, unknown>;
  /** Field rules this route has (for the per-field cases below). */
  fields: ('name' | 'phone' | 'email')[];
}

type Key = 'register' | 'login' | 'createCustomer' | 'patchCustomer';
let owner: Member;
const targets = {} as Record<Key, Target>;
beforeAll(async () => {
  owner = await registerOrg(t.app, 'BadInput');
  const customer = await createCustomer(t.app, owner);
  targets.register = {
    label: 'POST /api/v1/auth/register',
    method: 'POST',
    url: '/api/v1/auth/register',
    headers: {},
    valid: () => ({
      organizationName: 'Acme',
      name: 'Ada',
      email: `ada-${randomUUID()}@example.test`,
      password: PASSWORD,
    }),
    fields: ['name', 'email'],
  };
  targets.login = {
    label: 'POST /api/v1/auth/login',
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: {},
    valid: () => ({ email: owner.email, password: PASSWORD }),
    fields: [],
  };
  targets.createCustomer = {
    label: 'POST /api/v1/customers',
    method: 'POST',
    url: '/api/v1/customers',
    headers: owner.auth,
    valid: () => ({ name: 'Grace', phone: newPhone() }),
    fields: ['name', 'phone', 'email'],
  };
  targets.patchCustomer = {
    label: 'PATCH /api/v1/customers/:id',
    method: 'PATCH',
    url: `/api/v1/customers/${customer.id}`,
    headers: owner.auth,
    valid: () => ({ name: 'Grace H.' }),
    fields: ['name', 'phone', 'email'],
  };
});

const KEYS: Key[] = ['register', 'login', 'createCustomer', 'patchCustomer'];

function send(key: Key, payload: string | Buffer, contentType = 'application/json') {
  const target = targets[key];
  return t.app.inject({
    method: target.method,
    url: target.url,
    headers: { ...target.headers, 'content-type': contentType },
    payload,
  });
}

const MiB = 1024 * 1024;

describe.each(KEYS)('bad bodies on %s', (key) => {
  it('accepts its valid body (the baseline the other cases break)', async () => {
    const res = await send(key, JSON.stringify(targets[key].valid()));
    expect(res.statusCode, res.body).toBeLessThan(300);
  });

  it.each([
    ['a truncated object', '{"name": '],
    ['single quotes', "{'name': 'x'}"],
    ['a trailing comma', '{"name": "x",}'],
    ['bare words', 'hello'],
    ['two documents', '{} {}'],
  ])('refuses malformed JSON (%s) with 400 invalid_json', async (_what, raw) => {
    expectProblem(await send(key, raw), 400, 'invalid_json');
  });

  it.each([
    ['nothing', ''],
    ['only whitespace', '  \n '],
  ])('refuses an empty JSON body (%s) with 400', async (_what, raw) => {
    expectProblem(await send(key, raw), 400, ['invalid_json', 'validation_failed']);
  });

  it.each([
    ['__proto__', '{"__proto__": {"x": 1}}'],
    ['nested __proto__', '{"name": {"__proto__": {"x": 1}}}'],
    ['constructor.prototype', '{"constructor": {"prototype": {"x": 1}}}'],
    [
      '__proto__ beside valid fields',
      '{"name": "a", "phone": "+15551234567", "__proto__": {"x": 1}}',
    ],
  ])('refuses prototype poisoning (%s) with 400 validation_failed', async (_what, raw) => {
    const res = await send(key, raw);
    expectProblem(res, 400, 'validation_failed');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('x');
  });

  it('refuses a JSON body over 1 MiB with 413 payload_too_large', async () => {
    const raw = JSON.stringify({ ...targets[key].valid(), notes: 'a'.repeat(MiB) });
    expect(Buffer.byteLength(raw)).toBeGreaterThan(MiB);
    expectProblem(await send(key, raw), 413, 'payload_too_large');
  });

  it.each([
    ['text/plain', 'name=x', 'text/plain'],
    ['text/plain; charset=utf-8', '{"name": "x"}', 'text/plain; charset=utf-8'],
    ['urlencoded', 'name=x&phone=%2B15551234567', 'application/x-www-form-urlencoded'],
    [
      'multipart',
      '--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--XyZ--\r\n',
      'multipart/form-data; boundary=XyZ',
    ],
    ['xml', '<name>x</name>', 'application/xml'],
  ])('refuses %s with 415 unsupported_media_type', async (_what, raw, type) => {
    expectProblem(await send(key, raw, type), 415, 'unsupported_media_type');
  });

  it.each([
    ['application/json; charset=utf-8'],
    ['application/json;charset=UTF-8'],
    ['Application/JSON'],
  ])('accepts its valid body sent as %s', async (type) => {
    const res = await send(key, JSON.stringify(targets[key].valid()), type);
    expect(res.statusCode, res.body).toBeLessThan(300);
  });

  it('refuses a body without a content type with 415 unsupported_media_type', async () => {
    const target = targets[key];
    const res = await t.app.inject({
      method: target.method,
      url: target.url,
      headers: { ...target.headers, 'content-length': '2' },
      payload: Buffer.from('{}'),
    });
    expectProblem(res, 415, 'unsupported_media_type');
  });

  it.each([
    ['arrays', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['objects', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)],
    [
      'objects with a __proto__ inside',
      (n: number) => '{"a":'.repeat(n) + '{"__proto__":{"x":1}}' + '}'.repeat(n),
    ],
  ])('answers deeply nested %s with a 400, not a crash', async (_what, nest) => {
    const raw = nest(100_000);
    expect(Buffer.byteLength(raw)).toBeLessThan(MiB);
    const res = await send(key, raw);
    expectProblem(res, 400, ['validation_failed', 'invalid_json']);
  });

  it.each([
    ['an array', '[]'],
    ['an array of the valid body', null],
    ['null', 'null'],
    ['a string', '"name"'],
    ['a number', '42'],
  ])('refuses a body that is %s with 400 validation_failed', async (_what, raw) => {
    const body = raw ?? JSON.stringify([targets[key].valid()]);
    const res = await send(key, body);
    expectProblem(res, 400, 'validation_failed');
  });

  it('refuses an unknown key (organizationId) with 400 validation_failed', async () => {
    const res = await send(
      key,
      JSON.stringify({ ...targets[key].valid(), organizationId: randomUUID() }),
    );
    const body = expectProblem(res, 400, 'validation_failed');
    expect(body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]),
    );
  });
});

/** Field-level cases, each applied to every route that has that field. */
const FIELD_CASES: [string, 'name' | 'phone' | 'email' | 'login', Record<string, unknown>][] = [
  ['a number for name', 'name', { name: 42 }],
  ['an array for name', 'name', { name: ['Ada'] }],
  ['null for name', 'name', { name: null }],
  ['an object for name', 'name', { name: { first: 'Ada' } }],
  ['an empty name', 'name', { name: '' }],
  ['a 201-character name', 'name', { name: 'a'.repeat(201) }],
  ['a NUL in name', 'name', { name: 'Ada\u0000Lovelace' }],
  ['a newline in name', 'name', { name: 'Ada\nLovelace' }],
  ['an escape in name', 'name', { name: 'Ada\u001b[31m' }],
  ['a DEL in name', 'name', { name: 'Ada\u007f' }],
  ['a C1 control in name', 'name', { name: 'Ada\u0085' }],
  ['a phone without +', 'phone', { phone: '5551234' }],
  ['a phone starting +0', 'phone', { phone: '+0123456789' }],
  ['a phone with spaces', 'phone', { phone: '+1 555 123' }],
  ['a 16-digit phone', 'phone', { phone: '+1234567890123456' }],
  ['a too-short phone', 'phone', { phone: '+12345' }],
  ['a phone with letters', 'phone', { phone: '+1555CALLNOW' }],
  ['a number for phone', 'phone', { phone: 16315551181 }],
  ['null for phone', 'phone', { phone: null }],
  ['an email without @', 'email', { email: 'ada.example.test' }],
  ['an email without domain', 'email', { email: 'ada@' }],
  ['an email with spaces', 'email', { email: 'ada lovelace@example.test' }],
  ['a number for email', 'email', { email: 7 }],
  ['a number for login email', 'login', { email: 7 }],
  ['an array for login password', 'login', { password: ['x'] }],
  ['null for login password', 'login', { password: null }],
];

const fieldRows = () =>
  KEYS.flatMap((key) =>
    FIELD_CASES.filter(([, field]) =>
      field === 'login'
        ? key === 'login'
        : (
            {
              register: ['name', 'email'],
              login: [],
              createCustomer: ['name', 'phone', 'email'],
              patchCustomer: ['name', 'phone', 'email'],
            } as Record<Key, string[]>
          )[key].includes(field),
    ).map(([what, field, change]) => ({ key, what, field, change })),
  );

describe('field validation', () => {
  it.each(fieldRows())(
    '$key refuses $what with 400 validation_failed naming the field',
    async ({ key, change }) => {
      const res = await send(key, JSON.stringify({ ...targets[key].valid(), ...change }));
      const body = expectProblem(res, 400, 'validation_failed');
      const errors = body.errors as { path: unknown; message: unknown }[];
      expect(Array.isArray(errors) && errors.length > 0, res.body).toBe(true);
      for (const e of errors) {
        expect(typeof e.path).toBe('string');
        expect(typeof e.message).toBe('string');
      }
      const name = Object.keys(change)[0]!;
      expect(
        errors.some((e) => String(e.path).split('.').includes(name)),
        res.body,
      ).toBe(true);
    },
  );

  it('applies a refused change to nothing', async () => {
    const member = await registerOrg(t.app, 'Untouched');
    const c = await createCustomer(t.app, member, { name: 'Kept' });
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/customers/${c.id}`,
      headers: member.auth,
      payload: { name: 'Changed', phone: '5551234' },
    });
    expectProblem(res, 400, 'validation_failed');
    const got = await t.app.inject({ url: `/api/v1/customers/${c.id}`, headers: member.auth });
    expect(got.json()).toMatchObject({ name: 'Kept', phone: c.phone });
  });

  it.each([
    ['POST', 'createCustomer'],
    ['PATCH', 'patchCustomer'],
  ] as const)('%s accepts a WhatsApp wa_id style phone (+16315551181)', async (_m, key) => {
    const member = await registerOrg(t.app, 'WaId');
    const target =
      key === 'createCustomer'
        ? { method: 'POST' as const, url: '/api/v1/customers' }
        : {
            method: 'PATCH' as const,
            url: `/api/v1/customers/${(await createCustomer(t.app, member)).id}`,
          };
    const res = await t.app.inject({
      ...target,
      headers: member.auth,
      payload: { name: 'Meta Test', phone: '+16315551181' },
    });
    expect(res.statusCode, res.body).toBe(key === 'createCustomer' ? 201 : 200);
    expect(res.json()).toMatchObject({ phone: '+16315551181' });
  });
});
