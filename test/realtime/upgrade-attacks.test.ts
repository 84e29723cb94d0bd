import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { openSocket, upgradeStatus, wsUrl } from '../helpers/ws.js';
import { accessToken, unsignedToken } from './tokens.js';

const SECRET = randomBytes(32).toString('base64url');
const OWN = 'https://bastion.test'; // PUBLIC_URL of testApp
const CONSOLE = 'https://console.bastion.test';

let t: TestApp;
let url: string;
let m: Member;
let cookieName: string;
beforeAll(async () => {
  t = await testApp({ JWT_SECRET: SECRET, ALLOWED_ORIGINS: CONSOLE });
  url = await wsUrl(t.app);
  m = await registerOrg(t.app);
  cookieName = t.app.ctx.cookies.names.access;
});
afterAll(() => t.close());

const cookie = (token: string) => `${cookieName}=${token}`;
const bearer = (token: string) => `Bearer ${token}`;

type Case = [string, () => Promise<{ path?: string; headers: Record<string, string> }>, number];

const cases: Case[] = [
  ['no credential at all', async () => ({ headers: {} }), 401],
  [
    'a token in the query string only',
    async () => ({ path: `?access_token=${m.token}`, headers: { origin: OWN } }),
    401,
  ],
  [
    'a token in the query string under another name',
    async () => ({ path: `?token=${m.token}&jwt=${m.token}`, headers: {} }),
    401,
  ],
  [
    'an expired token',
    async () => ({
      headers: {
        authorization: bearer(
          await accessToken(SECRET, m.token, { expiresAt: Math.floor(Date.now() / 1000) - 5 }),
        ),
      },
    }),
    401,
  ],
  [
    'a token signed with another secret',
    async () => ({
      headers: {
        authorization: bearer(
          await accessToken(randomBytes(32).toString('base64url'), m.token, {
            kid: t.app.ctx.tokens.kid,
          }),
        ),
      },
    }),
    401,
  ],
  [
    'an alg none token',
    async () => ({ headers: { authorization: bearer(unsignedToken(SECRET, m.token)) } }),
    401,
  ],
  [
    'an expired token in the cookie',
    async () => ({
      headers: {
        origin: OWN,
        cookie: cookie(
          await accessToken(SECRET, m.token, { expiresAt: Math.floor(Date.now() / 1000) - 5 }),
        ),
      },
    }),
    401,
  ],
  [
    'cross-site WebSocket hijacking: the cookie from a foreign Origin',
    async () => ({ headers: { origin: 'https://evil.example', cookie: cookie(m.token) } }),
    403,
  ],
  [
    'cross-site WebSocket hijacking: a look-alike Origin',
    async () => ({ headers: { origin: `${OWN}.evil.example`, cookie: cookie(m.token) } }),
    403,
  ],
  ['the cookie with no Origin at all', async () => ({ headers: { cookie: cookie(m.token) } }), 403],
  [
    'the cookie from our own Origin',
    async () => ({ headers: { origin: OWN, cookie: cookie(m.token) } }),
    101,
  ],
  [
    'the cookie from an ALLOWED_ORIGINS origin',
    async () => ({ headers: { origin: CONSOLE, cookie: cookie(m.token) } }),
    101,
  ],
  [
    'an Authorization header with no Origin',
    async () => ({ headers: { authorization: bearer(m.token) } }),
    101,
  ],
];

describe('who may open the realtime socket', () => {
  it.each(cases.map(([name, make, status]) => [name, status, make] as const))(
    '%s -> %i',
    async (_, status, make) => {
      const { path = '', headers } = await make();
      expect(await upgradeStatus(url + path, headers)).toBe(status);
    },
  );
  it('refuses an API key, even one that may read conversations', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: m.auth,
      payload: { name: 'integration', scopes: ['conversations:read'] },
    });
    expect(res.statusCode, res.body).toBe(201);
    const key = res.json<{ key: string }>().key;
    expect(await upgradeStatus(url, { authorization: bearer(key) })).toBe(403);
  });

  it('refuses a member of an organization that requires MFA before they enrolled', async () => {
    const owner = await registerOrg(t.app);
    const policy = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: owner.auth,
      payload: { requireMfa: true },
    });
    expect(policy.statusCode).toBe(200);
    expect(await upgradeStatus(url, owner.auth)).toBe(403);
  });

  it('accepted sockets are usable (a sanity check of the table above)', async () => {
    const s = await openSocket(url, m.auth);
    expect(s.socket.readyState).toBe(s.socket.OPEN);
    await s.close();
  });
});

/** Sends a raw upgrade request and resolves when the server has closed the connection. */
function serverCloses(path: string, headers: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''));
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        ...headers,
        '',
        '',
      ].join('\r\n'),
    );
  });
}

describe('refused upgrades do not pin sockets', () => {
  it.each([
    ['an unauthenticated upgrade to the socket', '/api/v1/realtime', /^HTTP\/1.1 401 /],
    ['an upgrade to an ordinary API route', '/api/v1/customers', /^HTTP\/1.1 401 /],
    ['an upgrade to a path that does not exist', '/nowhere', /^HTTP\/1.1 404 /],
  ])('%s: answered, then the server closes the connection', async (_, path, status) => {
    expect(await serverCloses(path)).toMatch(status);
  });
});
