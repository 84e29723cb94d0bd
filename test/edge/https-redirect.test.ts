import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { listenLocal, rawRequest } from '../helpers/raw-http.js';

/**
 * CONTRACT section 4: the https redirect goes to PUBLIC_URL's host and never to one the
 * request names. An open redirect on our own domain is a phishing link users trust, and a
 * cached 308 to a hostile host poisons every later visitor. Raw sockets: a client library
 * would normalise the absolute-form and backslash targets before the server saw them.
 */

const PROD = { NODE_ENV: 'production', TRUST_PROXY: '1' };

const attacks: [string, string, Record<string, string>, string][] = [
  ['a hostile Host header', '/x?a=1', { host: 'evil.example' }, 'https://bastion.test/x?a=1'],
  [
    'a hostile X-Forwarded-Host',
    '/x',
    { 'x-forwarded-host': 'evil.example' },
    'https://bastion.test/x',
  ],
  [
    'an absolute-form request target',
    'http://evil.example/steal?a=1',
    { host: 'evil.example' },
    'https://bastion.test/steal?a=1',
  ],
  ['a protocol-relative path', '//evil.example/path', {}, 'https://bastion.test/evil.example/path'],
  ['a backslash path', '/\\evil.example', {}, 'https://bastion.test/evil.example'],
  ['backslashes and slashes', '/\\/\\evil.example/x', {}, 'https://bastion.test/evil.example/x'],
  [
    'encoded slashes',
    '/%2F%2Fevil.example/%5C?q=%2F%2F',
    {},
    'https://bastion.test/%2F%2Fevil.example/%5C?q=%2F%2F',
  ],
  ['an asterisk target', '*', {}, 'https://bastion.test/'],
];

function request(target: string, headers: Record<string, string>) {
  const lines = Object.entries({ host: 'bastion.test', ...headers, 'x-forwarded-proto': 'http' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `GET ${target} HTTP/1.1\r\n${lines}connection: close\r\n\r\n`;
}

describe.each([
  ['PUBLIC_URL https', {}, 'https://bastion.test'],
  // Development: an http PUBLIC_URL still sends to its own host, on the https port.
  [
    'PUBLIC_URL http with a port',
    { PUBLIC_URL: 'http://bastion.test:3000' },
    'https://bastion.test',
  ],
])('open redirect via the https redirect (%s)', (_label, env, origin) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await testApp({ ...PROD, ...env });
    port = await listenLocal(t.app);
  });
  afterAll(() => t.close());

  it.each(attacks)('%s goes to PUBLIC_URL', async (_attack, target, headers, location) => {
    const res = await rawRequest(port, request(target, headers));
    expect(res.status, res.body).toBe(308);
    expect(res.headers.location).toBe(location.replace('https://bastion.test', origin));
    expect(res.headers.location?.startsWith(`${origin}/`)).toBe(true);
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });
});
