import { dictionary } from '@zxcvbn-ts/language-common';
import type { LightMyRequestResponse } from 'fastify';
import { SignJWT } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomer,
  newPhone,
  PASSWORD,
  problemOf,
  registerOrg,
  testApp,
  type Member,
  type TestApp,
} from '../helpers/app.js';
import { expectProblem } from '../helpers/problems.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const ORIGIN = 'https://bastion.test'; // PUBLIC_URL of testApp()

// ---------------------------------------------------------------------------------------
// Hostile access tokens
// ---------------------------------------------------------------------------------------

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decodePart = (token: string, i: 0 | 1) =>
  JSON.parse(Buffer.from(token.split('.')[i]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;

const secretKey = () => new TextEncoder().encode(t.app.ctx.config.jwtSecret);

interface Mint {
  alg?: string;
  typ?: string;
  kid?: string;
  key?: Uint8Array;
  claims: Record<string, unknown>;
}

/** Signs a token the way the server does (HS256, at+jwt, its kid and key) unless told otherwise. */
const mint = (m: Mint) =>
  new SignJWT(m.claims)
    .setProtectedHeader({
      alg: m.alg ?? 'HS256',
      typ: m.typ ?? 'at+jwt',
      kid: m.kid ?? t.app.ctx.tokens.kid,
    })
    .sign(m.key ?? secretKey());

interface Scene {
  a: Member;
  b: Member;
  aSid: string;
  bSid: string;
  /** Claims as the server issued them to `a`, with a fresh iat/exp. */
  claims: Record<string, unknown>;
}

async function scene(): Promise<Scene> {
  const a = await registerOrg(t.app, 'Victim');
  const b = await registerOrg(t.app, 'Other');
  const sidOf = async (m: Member) => {
    const res = await t.app.inject({ url: '/api/v1/auth/me', headers: m.auth });
    expect(res.statusCode).toBe(200);
    return res.json<{ sessionId: string }>().sessionId;
  };
  const now = Math.floor(Date.now() / 1000);
  const issued = decodePart(a.token, 1);
  return {
    a,
    b,
    aSid: await sidOf(a),
    bSid: await sidOf(b),
    claims: { ...issued, iat: now, exp: now + 600 },
  };
}

const without = (o: Record<string, unknown>, key: string) => {
  const { [key]: _gone, ...rest } = o;
  return rest;
};

const unsigned = (alg: string, s: Scene, signature = '') =>
  `${b64url({ alg, typ: 'at+jwt', kid: t.app.ctx.tokens.kid })}.${b64url(s.claims)}.${signature}`;

const attacks: { attack: string; authorization: (s: Scene) => Promise<string> | string }[] = [
  { attack: 'alg none, unsigned', authorization: (s) => `Bearer ${unsigned('none', s)}` },
  { attack: 'alg None, unsigned', authorization: (s) => `Bearer ${unsigned('None', s)}` },
  {
    attack: 'alg none, keeping a real signature',
    authorization: (s) => `Bearer ${unsigned('none', s, s.a.token.split('.')[2])}`,
  },
  {
    attack: 'signed with the wrong key',
    authorization: async (s) => `Bearer ${await mint({ claims: s.claims, key: randomBytes(32) })}`,
  },
  {
    attack: 'HS512 with the right key',
    authorization: async (s) => `Bearer ${await mint({ claims: s.claims, alg: 'HS512' })}`,
  },
  {
    attack: 'HS384 with the right key',
    authorization: async (s) => `Bearer ${await mint({ claims: s.claims, alg: 'HS384' })}`,
  },
  {
    attack: 'expired',
    authorization: async (s) => {
      const now = Math.floor(Date.now() / 1000);
      return `Bearer ${await mint({ claims: { ...s.claims, iat: now - 3600, exp: now - 60 } })}`;
    },
  },
  {
    attack: 'no exp (never expires)',
    authorization: async (s) => `Bearer ${await mint({ claims: without(s.claims, 'exp') })}`,
  },
  {
    attack: 'wrong aud',
    authorization: async (s) =>
      `Bearer ${await mint({ claims: { ...s.claims, aud: 'bastion-admin' } })}`,
  },
  {
    attack: 'wrong iss',
    authorization: async (s) =>
      `Bearer ${await mint({ claims: { ...s.claims, iss: 'evil-issuer' } })}`,
  },
  {
    attack: 'wrong typ',
    authorization: async (s) => `Bearer ${await mint({ claims: s.claims, typ: 'JWT' })}`,
  },
  {
    attack: 'unknown kid',
    authorization: async (s) => `Bearer ${await mint({ claims: s.claims, kid: 'other-key' })}`,
  },
  {
    attack: 'missing sid',
    authorization: async (s) => `Bearer ${await mint({ claims: without(s.claims, 'sid') })}`,
  },
  {
    attack: "sid of another user's session",
    authorization: async (s) => `Bearer ${await mint({ claims: { ...s.claims, sid: s.bSid } })}`,
  },
  {
    attack: "sid and org of another user's session",
    authorization: async (s) =>
      `Bearer ${await mint({ claims: { ...s.claims, sid: s.bSid, org: s.b.orgId } })}`,
  },
  {
    attack: 'sub of another user with its own sid',
    authorization: async (s) =>
      `Bearer ${await mint({ claims: { ...s.claims, sub: s.b.userId } })}`,
  },
  {
    attack: "own session moved to another organization's id",
    authorization: async (s) => `Bearer ${await mint({ claims: { ...s.claims, org: s.b.orgId } })}`,
  },
  {
    attack: "tampered payload (org swapped to another organization's id), signature kept",
    authorization: (s) => {
      const [h, , sig] = s.a.token.split('.');
      return `Bearer ${h}.${b64url({ ...decodePart(s.a.token, 1), org: s.b.orgId })}.${sig}`;
    },
  },
  {
    attack: 'tampered payload (sub swapped), signature kept',
    authorization: (s) => {
      const [h, , sig] = s.a.token.split('.');
      return `Bearer ${h}.${b64url({ ...decodePart(s.a.token, 1), sub: s.b.userId })}.${sig}`;
    },
  },
  { attack: 'garbage', authorization: () => 'Bearer not.a.jwt' },
  {
    attack: 'random bytes',
    authorization: () => `Bearer ${randomBytes(48).toString('base64url')}`,
  },
  { attack: 'empty bearer', authorization: () => 'Bearer ' },
  { attack: 'scheme only', authorization: () => 'Bearer' },
  {
    attack: 'Basic scheme with valid credentials',
    authorization: (s) => `Basic ${Buffer.from(`${s.a.email}:${PASSWORD}`).toString('base64')}`,
  },
  { attack: 'lowercase bearer', authorization: (s) => `bearer ${s.a.token}` },
  { attack: 'extra spaces', authorization: (s) => `Bearer  ${s.a.token}` },
  { attack: 'a trailing second token', authorization: (s) => `Bearer ${s.a.token} ${s.b.token}` },
  { attack: 'token with trailing junk', authorization: (s) => `Bearer ${s.a.token}x` },
  // Issue 9, finding 10: base64url decoders that tolerate padding give one token a second
  // spelling; only the canonical compact form is a token.
  {
    attack: 'the real token with = padding on its signature',
    authorization: (s) => `Bearer ${s.a.token}=`,
  },
  {
    attack: 'the real token with = padding on its header',
    authorization: (s) => `Bearer ${s.a.token.replace('.', '=.')}`,
  },
];

const endpoints = ['/api/v1/auth/me', '/api/v1/customers'];
const attackCases = attacks.flatMap((a) => endpoints.map((url) => ({ ...a, url })));

describe('hostile access tokens', () => {
  it.each(endpoints)(
    'accepts a token minted like the server does (control) on GET %s',
    async (url) => {
      const s = await scene();
      const res = await t.app.inject({
        url,
        headers: { authorization: `Bearer ${await mint({ claims: s.claims })}` },
      });
      expect(res.statusCode).toBe(200);
    },
  );

  it.each(attackCases)('refuses $attack on GET $url', async ({ authorization, url }) => {
    const s = await scene();
    const res = await t.app.inject({ url, headers: { authorization: await authorization(s) } });
    const anonymous = await t.app.inject({ url });

    expectProblem(res, 401, 'unauthorized');
    // Indistinguishable from sending no credential at all.
    expect(problemOf(res)).toEqual(problemOf(anonymous));
    expect(res.body).not.toMatch(/JWS|JWT|jose|signature|expired|claim/i);
  });

  it.each(endpoints)('refuses the access token at once after logout on GET %s', async (url) => {
    const a = await registerOrg(t.app);
    const before = await t.app.inject({ url, headers: a.auth });
    expect(before.statusCode).toBe(200);

    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: a.auth });
    expect(out.statusCode).toBe(204);

    const after = await t.app.inject({ url, headers: a.auth });
    expectProblem(after, 401, 'unauthorized');
  });
});

// ---------------------------------------------------------------------------------------
// Sign-in and registration
// ---------------------------------------------------------------------------------------

const login = (email: string, password: string, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers,
    payload: { email, password },
  });

const register = (email: string, password: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    headers: { 'x-auth-mode': 'token' },
    payload: { organizationName: 'Org', name: 'Someone', email, password },
  });

// The RateLimit-* counters move with every attempt from this address, whoever it names.
const IGNORED_HEADERS = new Set([
  'date',
  'x-request-id',
  'content-length',
  'ratelimit-remaining',
  'ratelimit-reset',
]);
const comparableHeaders = (res: LightMyRequestResponse) =>
  Object.fromEntries(Object.entries(res.headers).filter(([k]) => !IGNORED_HEADERS.has(k)));

describe('sign-in', () => {
  it.each([
    { mode: 'cookie', headers: {} },
    { mode: 'token', headers: { 'x-auth-mode': 'token' } },
  ])(
    'answers an unknown email exactly as a wrong password ($mode mode: no account enumeration)',
    async ({ headers }) => {
      const a = await registerOrg(t.app);
      const unknown = await login(`nobody-${randomUUID()}@example.test`, PASSWORD, headers);
      const wrong = await login(a.email, 'definitely-not-the-password', headers);

      expectProblem(unknown, 401, 'invalid_credentials');
      expectProblem(wrong, 401, 'invalid_credentials');
      expect(problemOf(unknown)).toEqual(problemOf(wrong));
      expect(comparableHeaders(unknown)).toEqual(comparableHeaders(wrong));
      expect(wrong.headers['set-cookie']).toBeUndefined();
    },
  );

  it.each([
    { variant: 'upper case', email: (e: string) => e.toUpperCase() },
    { variant: 'a capitalised domain', email: (e: string) => e.replace('@example', '@Example') },
  ])('signs in with the email in $variant', async ({ email }) => {
    const a = await registerOrg(t.app);
    const res = await login(email(a.email), PASSWORD, { 'x-auth-mode': 'token' });
    expect(res.statusCode).toBe(200);
    expect(res.json().user.id).toBe(a.userId);
  });

  it('starts a new session on every sign-in, ignoring a planted session cookie (fixation)', async () => {
    const a = await registerOrg(t.app);
    const first = await login(a.email, PASSWORD);
    expect(first.statusCode).toBe(200);
    const planted = cookieHeader(first);
    const second = await login(a.email, PASSWORD, { cookie: planted });
    expect(second.statusCode).toBe(200);

    const sid = async (res: LightMyRequestResponse) => {
      const me = await t.app.inject({
        url: '/api/v1/auth/me',
        headers: { cookie: cookieHeader(res) },
      });
      expect(me.statusCode).toBe(200);
      return me.json<{ sessionId: string }>().sessionId;
    };
    expect(await sid(second)).not.toBe(await sid(first));
    expect(cookieHeader(second)).not.toBe(planted);
  });

  it('signs in with X-Auth-Mode: token without setting any cookie', async () => {
    const a = await registerOrg(t.app);
    const res = await login(a.email, PASSWORD, { 'x-auth-mode': 'token' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    const body = res.json();
    expect(typeof body.accessToken).toBe('string');
    expect(typeof body.refreshToken).toBe('string');
    const me = await t.app.inject({
      url: '/api/v1/auth/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(a.userId);
  });
});

describe('registration', () => {
  it.each([
    { variant: 'the same email', email: (e: string) => e },
    { variant: 'the email in upper case', email: (e: string) => e.toUpperCase() },
  ])('refuses to register $variant again (409), leaving the account alone', async ({ email }) => {
    const a = await registerOrg(t.app);
    const takeover = 'attacker-chosen-passphrase-9';
    const res = await register(email(a.email), takeover);
    expectProblem(res, 409, 'conflict');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).not.toContain('accessToken');

    expect((await login(a.email, takeover)).statusCode).toBe(401);
    expect((await login(a.email, PASSWORD, { 'x-auth-mode': 'token' })).statusCode).toBe(200);
  });

  /** A common password of at least 15 characters from the server's own blocklist. */
  const commonLong = dictionary['passwords-common']
    .slice(0, 10_000)
    .find((p) => [...p].length >= 15 && [...p].length <= 256);

  it('has a long common password to test with', () => {
    expect(commonLong).toBeDefined();
  });

  const emoji = ['🦊', '🔐', '🌍', '👩🏽‍💻'];
  const codePoints = (n: number) =>
    Array.from({ length: n }, (_, i) => [...emoji.join('')][i % 7]!).join('');

  it.each([
    { weakness: '14 characters', password: 'k9#vQ2!mZr7$wL' },
    { weakness: '14 emoji code points (28 UTF-16 units)', password: codePoints(14) },
    { weakness: 'a common password', password: commonLong ?? '' },
    { weakness: 'a common password in upper case', password: (commonLong ?? '').toUpperCase() },
    { weakness: '257 characters', password: 'Zq7'.repeat(86).slice(0, 257) },
    { weakness: '257 code points with emoji', password: codePoints(257) },
  ])('refuses a password of $weakness (weak_password), creating nothing', async ({ password }) => {
    const email = `weak-${randomUUID()}@example.test`;
    const res = await register(email, password);
    expectProblem(res, 400, 'weak_password');
    expect((await login(email, password)).statusCode).toBe(401);
  });

  it.each([
    { password: codePoints(256), length: 256, what: '256 code points with emoji' },
    { password: 'fifteen-chars!!', length: 15, what: 'exactly 15 characters' },
  ])('accepts a password of $what and signs in with it, never truncated', async (c) => {
    const { password } = c;
    expect([...password]).toHaveLength(c.length);
    const email = `long-${randomUUID()}@example.test`;
    expect((await register(email, password)).statusCode).toBe(201);
    expect((await login(email, password, { 'x-auth-mode': 'token' })).statusCode).toBe(200);
    const cut = [...password].slice(0, -1).join('');
    expect((await login(email, cut)).statusCode).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------
// Cookies and CSRF
// ---------------------------------------------------------------------------------------

interface SetCookie {
  name: string;
  value: string;
  attrs: Record<string, string | true>;
}

function setCookies(res: LightMyRequestResponse): SetCookie[] {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((line) => {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    return {
      name: pair!.slice(0, eq),
      value: pair!.slice(eq + 1),
      attrs: Object.fromEntries(
        attrs.map((a) => {
          const i = a.indexOf('=');
          return i < 0 ? [a.toLowerCase(), true] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
        }),
      ),
    };
  });
}

/** The Cookie header a browser would send back to / after this response. */
const cookieHeader = (res: LightMyRequestResponse) =>
  setCookies(res)
    .filter((c) => c.attrs.path === '/')
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');

function expectCookie(
  c: SetCookie | undefined,
  want: { path: string; httpOnly: boolean; secure: boolean },
) {
  expect(c).toBeDefined();
  expect(c!.value).not.toBe('');
  expect(c!.attrs.path).toBe(want.path);
  expect(c!.attrs.httponly === true).toBe(want.httpOnly);
  expect(c!.attrs.secure === true).toBe(want.secure);
  expect(String(c!.attrs.samesite).toLowerCase()).toBe('strict');
  expect(c!.attrs).not.toHaveProperty('domain');
}

describe('session cookies', () => {
  it('sets exactly the three hardened cookies on a cookie-mode sign-in (COOKIE_SECURE default)', async () => {
    const a = await registerOrg(t.app);
    const res = await login(a.email, PASSWORD);
    expect(res.statusCode).toBe(200);
    const cookies = setCookies(res);
    expect(cookies.map((c) => c.name).sort()).toEqual([
      '__Host-bastion_access',
      '__Host-bastion_csrf',
      '__Secure-bastion_refresh',
    ]);
    const byName = (n: string) => cookies.find((c) => c.name === n);
    expectCookie(byName('__Host-bastion_access'), { path: '/', httpOnly: true, secure: true });
    expectCookie(byName('__Secure-bastion_refresh'), {
      path: '/api/v1/auth',
      httpOnly: true,
      secure: true,
    });
    expectCookie(byName('__Host-bastion_csrf'), { path: '/', httpOnly: false, secure: true });

    // Scripts get the CSRF token, never the tokens themselves.
    const body = res.json();
    expect(byName('__Host-bastion_csrf')!.value).toBe(body.csrfToken);
    expect(body).not.toHaveProperty('accessToken');
    expect(body).not.toHaveProperty('refreshToken');
  });

  it('drops the prefixes and Secure with COOKIE_SECURE=false', async () => {
    const plain = await testApp({ COOKIE_SECURE: 'false' });
    try {
      const a = await registerOrg(plain.app);
      const res = await plain.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: a.email, password: PASSWORD },
      });
      expect(res.statusCode).toBe(200);
      const cookies = setCookies(res);
      expect(cookies.map((c) => c.name).sort()).toEqual([
        'bastion_access',
        'bastion_csrf',
        'bastion_refresh',
      ]);
      const byName = (n: string) => cookies.find((c) => c.name === n);
      expectCookie(byName('bastion_access'), { path: '/', httpOnly: true, secure: false });
      expectCookie(byName('bastion_refresh'), {
        path: '/api/v1/auth',
        httpOnly: true,
        secure: false,
      });
      expectCookie(byName('bastion_csrf'), { path: '/', httpOnly: false, secure: false });
    } finally {
      await plain.close();
    }
  });
});

interface Browser {
  member: Member;
  cookie: string;
  /** What the browser sends to /api/v1/auth: the refresh cookie too. */
  authCookie: string;
  csrfToken: string;
  customerId: string;
}

/** A member signed in with cookies, as the console is, with one customer. */
async function browser(): Promise<Browser> {
  const member = await registerOrg(t.app);
  const res = await login(member.email, PASSWORD);
  expect(res.statusCode).toBe(200);
  const customer = await createCustomer(t.app, member, { name: 'Untouched' });
  return {
    member,
    cookie: cookieHeader(res),
    authCookie: setCookies(res)
      .map((c) => `${c.name}=${c.value}`)
      .join('; '),
    csrfToken: res.json<{ csrfToken: string }>().csrfToken,
    customerId: customer.id,
  };
}

const forgedCsrf: { forgery: string; header: (b: Browser) => Promise<string | undefined> }[] = [
  { forgery: 'no X-CSRF-Token', header: async () => undefined },
  { forgery: 'an empty X-CSRF-Token', header: async () => '' },
  { forgery: 'a wrong X-CSRF-Token', header: async () => randomBytes(32).toString('base64url') },
  {
    forgery: "another session's X-CSRF-Token",
    header: async (b) => {
      const other = await login(b.member.email, PASSWORD);
      return other.json<{ csrfToken: string }>().csrfToken;
    },
  },
  {
    forgery: 'the session id as X-CSRF-Token',
    header: async (b) => {
      const me = await t.app.inject({ url: '/api/v1/auth/me', headers: { cookie: b.cookie } });
      return me.json<{ sessionId: string }>().sessionId;
    },
  },
];

const unsafeRequests: {
  request: string;
  send: (b: Browser, headers: Record<string, string>) => Promise<LightMyRequestResponse>;
  unchanged: (b: Browser) => Promise<void>;
}[] = [
  {
    request: 'POST /customers',
    send: (b, headers) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/customers',
        headers,
        payload: { name: 'Forged', phone: newPhone() },
      }),
    unchanged: async (b) => {
      const res = await t.app.inject({
        url: '/api/v1/customers?search=Forged',
        headers: b.member.auth,
      });
      expect(res.json().data).toEqual([]);
    },
  },
  {
    request: 'PATCH /customers/:id',
    send: (b, headers) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/v1/customers/${b.customerId}`,
        headers,
        payload: { name: 'Forged' },
      }),
    unchanged: async (b) => {
      const res = await t.app.inject({
        url: `/api/v1/customers/${b.customerId}`,
        headers: b.member.auth,
      });
      expect(res.json().name).toBe('Untouched');
    },
  },
  {
    request: 'DELETE /customers/:id',
    send: (b, headers) =>
      t.app.inject({ method: 'DELETE', url: `/api/v1/customers/${b.customerId}`, headers }),
    unchanged: async (b) => {
      const res = await t.app.inject({
        url: `/api/v1/customers/${b.customerId}`,
        headers: b.member.auth,
      });
      expect(res.statusCode).toBe(200);
    },
  },
  {
    request: 'POST /auth/logout',
    send: (_b, headers) => t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers }),
    unchanged: async (b) => {
      const res = await t.app.inject({ url: '/api/v1/auth/me', headers: { cookie: b.cookie } });
      expect(res.statusCode).toBe(200);
    },
  },
];

const csrfCases = forgedCsrf.flatMap((f) => unsafeRequests.map((r) => ({ ...f, ...r })));

describe('cross-site request forgery', () => {
  it.each(csrfCases)(
    'refuses a cookie-authenticated $request with $forgery',
    async ({ header, send, unchanged }) => {
      const b = await browser();
      const token = await header(b);
      const res = await send(b, {
        cookie: b.cookie,
        origin: ORIGIN,
        ...(token === undefined ? {} : { 'x-csrf-token': token }),
      });
      expectProblem(res, 403, 'csrf_failed');
      await unchanged(b);
    },
  );

  it.each(unsafeRequests)(
    'accepts a cookie-authenticated $request with the right X-CSRF-Token (control)',
    async ({ send }) => {
      const b = await browser();
      const res = await send(b, { cookie: b.cookie, 'x-csrf-token': b.csrfToken });
      expect([200, 201, 204]).toContain(res.statusCode);
    },
  );

  it.each([
    'https://evil.example',
    'null',
    'http://bastion.test',
    'https://bastion.test.evil.example',
    'https://bastion.test:8443',
  ])('refuses a cookie-authenticated GET from Origin %s', async (origin) => {
    const b = await browser();
    for (const url of endpoints) {
      const res = await t.app.inject({ url, headers: { cookie: b.cookie, origin } });
      expectProblem(res, 403, 'csrf_failed');
      expect(res.body).not.toContain('Untouched');
    }
  });

  it('accepts a cookie-authenticated GET from its own origin or with no Origin (control)', async () => {
    const b = await browser();
    for (const headers of [{ cookie: b.cookie, origin: ORIGIN }, { cookie: b.cookie }]) {
      const res = await t.app.inject({ url: '/api/v1/customers', headers });
      expect(res.statusCode).toBe(200);
    }
  });

  it('refuses a cookie-authenticated POST from a foreign Origin even with the right token', async () => {
    const b = await browser();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: { cookie: b.cookie, origin: 'https://evil.example', 'x-csrf-token': b.csrfToken },
      payload: { name: 'Forged', phone: newPhone() },
    });
    expectProblem(res, 403, 'csrf_failed');
  });

  // Issue 9, finding 4: the refresh cookie rides along on a cross-site POST to /auth/refresh;
  // answering it would mint fresh cookies for a page of the attacker's choosing.
  it.each([
    ['POST /auth/refresh', 'https://evil.example'],
    ['POST /auth/refresh', 'null'],
    ['POST /auth/login', 'https://evil.example'],
    ['POST /auth/login', 'null'],
  ])(
    'refuses %s carrying session cookies from Origin %s, setting no cookie',
    async (route, origin) => {
      const b = await browser();
      const url = `/api/v1/${route.split(' /')[1]}`;
      const payload = url.endsWith('login') ? { email: b.member.email, password: PASSWORD } : {};
      const res = await t.app.inject({
        method: 'POST',
        url,
        headers: { cookie: b.authCookie, origin },
        payload,
      });
      expectProblem(res, 403, 'csrf_failed');
      expect(res.headers['set-cookie']).toBeUndefined();
      // The session is untouched: its refresh token still works from our own origin.
      const ours = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        headers: { cookie: b.authCookie, origin: ORIGIN },
      });
      expect(ours.statusCode, ours.body).toBe(200);
    },
  );

  it('records a refused cross-origin refresh as a security event of its session', async () => {
    const b = await browser();
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      headers: { cookie: b.authCookie, origin: 'https://evil.example' },
    });
    const events = await t.app.inject({ url: '/api/v1/security-events', headers: b.member.auth });
    expect(events.json<{ data: { type: string }[] }>().data.map((e) => e.type)).toContain(
      'cross_origin_refused',
    );
  });

  it('signs in from a foreign origin without any of our cookies (CORS decides what it may read)', async () => {
    const b = await browser();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { origin: 'https://evil.example' },
      payload: { email: b.member.email, password: PASSWORD },
    });
    expect(res.statusCode).toBe(200);
  });

  it('exempts a bearer-authenticated POST from the CSRF header', async () => {
    const a = await registerOrg(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: a.auth,
      payload: { name: 'Via API', phone: newPhone() },
    });
    expect(res.statusCode).toBe(201);
  });
});
