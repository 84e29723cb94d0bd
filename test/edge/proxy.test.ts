import type { InjectOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PASSWORD, testApp } from '../helpers/app.js';

/**
 * CONTRACT section 4 and issue 4: X-Forwarded-For and X-Forwarded-Proto count only when the
 * peer is a proxy TRUST_PROXY trusts; otherwise a client could write any address into the
 * session list, the audit trail and the per-address rate limit.
 */

const PROXY = '10.0.0.5';
const CLIENT = '203.0.113.9';

/** The address the server recorded for a sign-in, as the member sees it in GET /sessions. */
async function recordedIp(env: Record<string, string>, remoteAddress: string, xff?: string) {
  const t = await testApp(env);
  try {
    const register = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      remoteAddress,
      headers: { 'x-auth-mode': 'token', ...(xff === undefined ? {} : { 'x-forwarded-for': xff }) },
      payload: {
        organizationName: `Proxy ${randomUUID().slice(0, 8)}`,
        name: 'Owner',
        email: `owner-${randomUUID()}@example.test`,
        password: PASSWORD,
      },
    });
    expect(register.statusCode, register.body).toBe(201);
    const { accessToken } = register.json<{ accessToken: string }>();
    const list = await t.app.inject({
      url: '/api/v1/sessions',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const [session] = list.json<{ data: { ip: string | null }[] }>().data;
    return session?.ip;
  } finally {
    await t.close();
  }
}

describe('X-Forwarded-For spoofing', () => {
  const cases: [string, Record<string, string>, string, string | undefined, string][] = [
    ['is ignored without TRUST_PROXY', {}, PROXY, CLIENT, PROXY],
    ['is ignored without TRUST_PROXY, even from localhost', {}, '127.0.0.1', CLIENT, '127.0.0.1'],
    ['counts its last hop behind one trusted hop', { TRUST_PROXY: '1' }, PROXY, CLIENT, CLIENT],
    [
      'cannot prepend a forged address behind one hop',
      { TRUST_PROXY: '1' },
      PROXY,
      `198.51.100.66, ${CLIENT}`,
      CLIENT,
    ],
    [
      'skips exactly the trusted hops with a hop count of 2',
      { TRUST_PROXY: '2' },
      PROXY,
      `198.51.100.66, ${CLIENT}, 10.0.0.6`,
      CLIENT,
    ],
    [
      'counts from a proxy in the trusted CIDR',
      { TRUST_PROXY: '10.0.0.0/8' },
      PROXY,
      CLIENT,
      CLIENT,
    ],
    [
      'is ignored from a peer outside the trusted CIDR',
      { TRUST_PROXY: '10.0.0.0/8' },
      '192.0.2.7',
      CLIENT,
      '192.0.2.7',
    ],
    [
      'walks back through trusted CIDR hops only',
      { TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' },
      PROXY,
      `198.51.100.66, ${CLIENT}, 10.0.0.6`,
      CLIENT,
    ],
    ['without the header is the peer itself', { TRUST_PROXY: '1' }, PROXY, undefined, PROXY],
  ];
  it.each(cases)('%s', async (_label, env, remote, xff, expected) => {
    expect(await recordedIp(env, remote, xff)).toBe(expected);
  });
});

describe('plain http behind a trusted proxy is redirected to https', () => {
  const PROD = { NODE_ENV: 'production', TRUST_PROXY: '1' };
  const get = (headers: Record<string, string>, extra: Partial<InjectOptions> = {}) =>
    ({
      url: '/api/v1/customers?limit=5&q=a%20b',
      remoteAddress: PROXY,
      headers,
      ...extra,
    }) as const;

  const redirected: [string, Record<string, string>, InjectOptions, string][] = [
    [
      'a GET, to the same path and query on PUBLIC_URL',
      PROD,
      get({ 'x-forwarded-proto': 'http' }),
      'https://bastion.test/api/v1/customers?limit=5&q=a%20b',
    ],
    [
      'a POST (308 keeps the method and body)',
      PROD,
      get({ 'x-forwarded-proto': 'http' }, { method: 'POST', payload: { name: 'x' } }),
      'https://bastion.test/api/v1/customers?limit=5&q=a%20b',
    ],
    [
      'when the nearest proxy says http after a forged https',
      PROD,
      get({ 'x-forwarded-proto': 'https, http' }),
      'https://bastion.test/api/v1/customers?limit=5&q=a%20b',
    ],
    [
      'from a proxy in a trusted CIDR, to the PUBLIC_URL host on https when PUBLIC_URL is http',
      { NODE_ENV: 'production', TRUST_PROXY: '10.0.0.0/8', PUBLIC_URL: 'http://internal:3000' },
      {
        url: '/health',
        remoteAddress: PROXY,
        headers: { host: 'app.example.test:80', 'x-forwarded-proto': 'http' },
      },
      'https://internal/health',
    ],
  ];
  it.each(redirected)('%s', async (_label, env, request, location) => {
    const t = await testApp(env);
    try {
      const res = await t.app.inject(request);
      expect(res.statusCode, res.body).toBe(308);
      expect(res.headers.location).toBe(location);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['cache-control']).toBe('no-store');
    } finally {
      await t.close();
    }
  });

  const notRedirected: [string, Record<string, string>, InjectOptions][] = [
    ['not when the proxy says https', PROD, get({ 'x-forwarded-proto': 'https' })],
    ['not without X-Forwarded-Proto (a probe straight to the instance)', PROD, get({})],
    ['not outside production', { TRUST_PROXY: '1' }, get({ 'x-forwarded-proto': 'http' })],
    [
      'not without TRUST_PROXY (the header is the client’s word)',
      { NODE_ENV: 'production' },
      get({ 'x-forwarded-proto': 'http' }),
    ],
    [
      'not from a peer outside the trusted CIDR',
      { NODE_ENV: 'production', TRUST_PROXY: '10.0.0.0/8' },
      get({ 'x-forwarded-proto': 'http' }, { remoteAddress: '192.0.2.7' }),
    ],
  ];
  it.each(notRedirected)('%s', async (_label, env, request) => {
    const t = await testApp(env);
    try {
      const res = await t.app.inject(request);
      expect(res.statusCode, res.body).toBe(401);
      expect(res.headers.location).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
