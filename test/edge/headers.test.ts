import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PASSWORD, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';

/** CONTRACT section 4 (issue 4): the same protective headers on every kind of answer. */
const COMMON = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

function expectEdgeHeaders(res: LightMyRequestResponse, csp: string | null = API_CSP) {
  for (const [name, value] of Object.entries(COMMON)) {
    expect(res.headers[name], `${name} on ${res.statusCode}`).toBe(value);
  }
  if (csp !== null) expect(res.headers['content-security-policy']).toBe(csp);
  expect(res.headers['x-powered-by']).toBeUndefined();
  expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
}

let t: TestApp;
let owner: Member;
beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app);
});
afterAll(() => t.close());

/** A POST to the customers route as the owner, with a body sent as given. */
const post = (body: string | object, type = 'application/json'): InjectOptions => ({
  method: 'POST',
  url: '/api/v1/customers',
  headers: { ...owner.auth, 'content-type': type },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('security headers on every response', () => {
  const cases: [string, number, () => InjectOptions][] = [
    ['an authenticated 200', 200, () => ({ url: '/api/v1/customers', headers: owner.auth })],
    ['an authenticated 201', 201, () => post({ name: 'Ada', phone: '+15550001111' })],
    ['a 401 without credentials', 401, () => ({ url: '/api/v1/customers' })],
    ['a 404 outside the API', 404, () => ({ url: '/no/such/page' })],
    ['a 404 inside the API', 404, () => ({ url: '/api/v1/nope', headers: owner.auth })],
    ['a 400 for broken JSON', 400, () => post('{"name":')],
    ['a 413 for an oversized body', 413, () => post({ name: 'x'.repeat(1024 * 1024 + 10) })],
    ['a 415 for an unsupported media type', 415, () => post('name=x', 'text/plain')],
    ['a router error (broken %-escape)', 400, () => ({ url: '/api/v1/customers/%E0%A4%A' })],
    ['a 405 for TRACE', 405, () => ({ method: 'TRACE', url: '/api/v1/customers' })],
    ['GET /health', 200, () => ({ url: '/health' })],
    ['GET /ready', 200, () => ({ url: '/ready' })],
    ['GET /metrics', 200, () => ({ url: '/metrics' })],
    ['GET /openapi.json', 200, () => ({ url: '/openapi.json' })],
  ];
  it.each(cases)('%s', async (_label, status, request) => {
    const res = await t.app.inject(request());
    expect(res.statusCode, res.body).toBe(status);
    expectEdgeHeaders(res);
  });

  it('a 500 from an unexpected failure carries them too, and no-store', async () => {
    const spy = vi.spyOn(t.db, 'withOrgRead').mockRejectedValueOnce(new Error('simulated'));
    try {
      const res = await t.app.inject({ url: '/api/v1/sessions', headers: owner.auth });
      expect(res.statusCode, res.body).toBe(500);
      expectEdgeHeaders(res);
      expect(res.headers['cache-control']).toBe('no-store');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('Cache-Control: no-store on authenticated answers', () => {
  it('on sign-in, refresh, an authenticated read and its 401', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'x-auth-mode': 'token' },
      payload: { email: owner.email, password: PASSWORD },
    });
    expect(login.statusCode, login.body).toBe(200);
    const { refreshToken, accessToken } = login.json<Record<string, string>>();
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: { 'x-auth-mode': 'token' },
      payload: { refreshToken },
    });
    expect(refresh.statusCode, refresh.body).toBe(200);
    const read = await t.app.inject({
      url: '/api/v1/sessions',
      headers: { authorization: `Bearer ${accessToken!}` },
    });
    const cookieLogin = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: owner.email, password: PASSWORD },
    });
    const denied = await t.app.inject({ url: '/api/v1/sessions' });
    for (const res of [login, refresh, read, cookieLogin, denied]) {
      expect(res.headers['cache-control'], res.body).toBe('no-store');
      expectEdgeHeaders(res);
    }
  });
});

describe('the console policy on HTML pages', () => {
  it('/docs is served under script-src self, without inline scripts or eval', async () => {
    const res = await t.app.inject({ url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    const directives = new Map(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name!, values.join(' ')] as const;
      }),
    );
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('object-src')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https:|\*/);
    expectEdgeHeaders(res, null);
    // Every script the page runs is a same-origin file the policy admits.
    const scripts = [...res.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, inline] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/docs\/static\/[\w.-]+\.js"/);
      expect(inline!.trim()).toBe('');
    }
    expect(res.body).not.toMatch(/\son[a-z]+\s*=/i);
  });
});

describe('TRACE and TRACK are never echoed', () => {
  it.each(['/api/v1/customers', '/health', '/nowhere'])('TRACE %s answers 405', async (url) => {
    const res = await t.app.inject({
      method: 'TRACE',
      url,
      headers: { cookie: 'bastion_session=secret-cookie', authorization: 'Bearer secret-token' },
    });
    expect(res.statusCode).toBe(405);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'method_not_allowed' });
    expect(res.body).not.toMatch(/secret-(cookie|token)/);
    expectEdgeHeaders(res);
  });

  it.each(['TRACE', 'TRACK'])(
    '%s over a real socket does not reflect the request',
    async (method) => {
      const own = await testApp();
      const { app } = own;
      try {
        await app.listen({ port: 0, host: '127.0.0.1' });
        const { port } = app.server.address() as { port: number };
        const answer = await new Promise<string>((resolve, reject) => {
          let out = '';
          const socket = connect(port, '127.0.0.1', () =>
            socket.end(`${method} / HTTP/1.1\r\nHost: x\r\nCookie: sid=secret-cookie\r\n\r\n`),
          );
          socket.on('data', (d: Buffer) => (out += d.toString()));
          socket.on('end', () => resolve(out)).on('error', reject);
        });
        expect(answer).toMatch(/^HTTP\/1\.1 (400|405) /);
        expect(answer).not.toContain('secret-cookie');
      } finally {
        await own.close();
      }
    },
  );
});
