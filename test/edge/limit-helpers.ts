import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { PASSWORD } from '../helpers/app.js';

/** The RATE_LIMIT_MAX of the limit tests: small, so a test spends it in a few requests. */
export const MAX = 5;

/** An owner registered from `ip` (that counts once against the address, not the user). */
export async function owner(app: FastifyInstance, ip: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    headers: { 'x-auth-mode': 'token' },
    remoteAddress: ip,
    payload: {
      organizationName: `Limits ${randomUUID().slice(0, 8)}`,
      name: 'Owner',
      email: `limits-${randomUUID()}@example.test`,
      password: PASSWORD,
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json<{
    accessToken: string;
    user: { id: string };
    organization: { id: string };
  }>();
  return {
    userId: body.user.id,
    orgId: body.organization.id,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

export const list = (app: FastifyInstance, ip: string, headers: Record<string, string> = {}) =>
  app.inject({ url: '/api/v1/customers', headers, remoteAddress: ip });

export const badLogin = (app: FastifyInstance, ip: string, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers,
    remoteAddress: ip,
    payload: { email: `nobody-${randomUUID()}@example.test`, password: 'not-the-password-at-all' },
  });

/** Spends `n` requests, asserting none of them was refused by the limit. */
export async function spend(n: number, send: () => Promise<{ statusCode: number }>) {
  for (let i = 0; i < n; i++) expect((await send()).statusCode).not.toBe(429);
}

export function expectLimited(res: Awaited<ReturnType<FastifyInstance['inject']>>) {
  expect(res.statusCode, res.body).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status: 429, code: 'rate_limited' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(res.headers['ratelimit-remaining']).toBe('0');
}
