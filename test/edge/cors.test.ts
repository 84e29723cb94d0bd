import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';

/**
 * CONTRACT section 4 (issue 4): a listed origin gets its exact value back with
 * credentials; any other origin gets no CORS header at all, preflight included (the
 * Whatomate bug: reflecting every Origin with credentials).
 */
const CONSOLE = 'https://console.example.test';
const DEV = 'http://localhost:5173';

const corsHeaders = (res: LightMyRequestResponse) =>
  Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));

let t: TestApp;
let owner: Member;
beforeAll(async () => {
  t = await testApp({ ALLOWED_ORIGINS: `${CONSOLE}, ${DEV}` });
  owner = await registerOrg(t.app);
});
afterAll(() => t.close());

const listed = [CONSOLE, DEV];
const refused: [string, string][] = [
  ['another site', 'https://evil.example'],
  ['the opaque origin null', 'null'],
  ['a suffix trick', 'https://console.example.test.evil.com'],
  ['a prefix trick', 'https://evilconsole.example.test'],
  ['a subdomain of a listed origin', 'https://a.console.example.test'],
  ['the listed host over http', 'http://console.example.test'],
  ['the listed host on another port', 'https://console.example.test:8443'],
  ['the listed host with its default port spelled out', 'https://console.example.test:443'],
  ['a trailing slash', 'https://console.example.test/'],
  ['another case', 'https://CONSOLE.example.test'],
  ['a listed dev server on the next port', 'http://localhost:5174'],
  ['the server itself (same-origin needs no CORS)', 'https://bastion.test'],
  ['a wildcard', '*'],
  ['two origins in one header', `${CONSOLE} https://evil.example`],
];

const preflight = (origin: string, method = 'POST') =>
  t.app.inject({
    method: 'OPTIONS',
    url: '/api/v1/customers',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization,content-type,x-csrf-token',
    },
  });

describe('actual requests', () => {
  it.each(listed)('echoes the listed origin %s exactly, with credentials', async (origin) => {
    for (const res of [
      await t.app.inject({ url: '/api/v1/customers', headers: { ...owner.auth, origin } }),
      await t.app.inject({ url: '/api/v1/customers', headers: { origin } }),
    ]) {
      expect(res.headers['access-control-allow-origin']).toBe(origin);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      expect(String(res.headers['access-control-expose-headers'])).toMatch(/X-Request-Id/);
      expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
    }
  });

  it.each(refused)('gives %s no CORS header at all', async (_label, origin) => {
    const res = await t.app.inject({
      url: '/api/v1/customers',
      headers: { ...owner.auth, origin },
    });
    // Bearer requests are not refused by origin: the browser simply cannot read the answer.
    expect(res.statusCode).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
    expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
  });

  it('sends Vary: Origin but no CORS header when there is no Origin', async () => {
    const res = await t.app.inject({ url: '/health' });
    expect(corsHeaders(res)).toEqual([]);
    expect(res.headers.vary).toBe('Origin');
  });

  it('never answers with a wildcard origin', async () => {
    for (const origin of [...listed, ...refused.map(([, o]) => o)]) {
      const res = await t.app.inject({ url: '/health', headers: { origin } });
      expect(res.headers['access-control-allow-origin']).not.toBe('*');
    }
  });
});

describe('preflight', () => {
  it.each(listed)(
    'allows the listed origin %s the methods and headers the API uses',
    async (origin) => {
      for (const method of ['POST', 'PATCH', 'DELETE', 'PUT']) {
        const res = await preflight(origin, method);
        expect(res.statusCode).toBe(204);
        expect(res.body).toBe('');
        expect(res.headers['access-control-allow-origin']).toBe(origin);
        expect(res.headers['access-control-allow-credentials']).toBe('true');
        const methods = String(res.headers['access-control-allow-methods']).split(/,\s*/);
        expect(methods).toContain(method);
        const headers = String(res.headers['access-control-allow-headers']).toLowerCase();
        for (const h of [
          'authorization',
          'content-type',
          'x-csrf-token',
          'x-auth-mode',
          'x-request-id',
        ]) {
          expect(headers.split(/,\s*/)).toContain(h);
        }
        expect(Number(res.headers['access-control-max-age'])).toBeGreaterThan(0);
        expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
      }
    },
  );

  it.each(refused)('refuses a preflight from %s with no CORS header', async (_label, origin) => {
    const res = await preflight(origin);
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'forbidden' });
    expect(corsHeaders(res)).toEqual([]);
    expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
  });

  it('an OPTIONS request that is not a preflight gets no CORS headers', async () => {
    const res = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/customers' });
    expect(res.statusCode).toBe(404);
    expect(corsHeaders(res)).toEqual([]);
  });
});

describe('with no ALLOWED_ORIGINS', () => {
  it('no origin is ever allowed, preflight included', async () => {
    const other = await testApp();
    try {
      const get = await other.app.inject({ url: '/health', headers: { origin: CONSOLE } });
      expect(get.statusCode).toBe(200);
      expect(corsHeaders(get)).toEqual([]);
      const pre = await other.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/customers',
        headers: { origin: CONSOLE, 'access-control-request-method': 'POST' },
      });
      expect(pre.statusCode).toBe(403);
      expect(corsHeaders(pre)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
