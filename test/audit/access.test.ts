import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/db/schema.js';
import { registerOrg, type Member, type TestApp } from '../helpers/app.js';
import { auditApp, memberWithRole } from './helpers.js';

/**
 * CONTRACT section 10: the audit and security logs are for admins, and GET /security-events
 * shows them their own organization's events only.
 */

let t: TestApp;
beforeAll(async () => {
  t = await auditApp();
});
afterAll(() => t.close());

async function eventsOf(who: Member, query = '') {
  const res = await t.app.inject({
    method: 'GET',
    url: `/api/v1/security-events${query}`,
    headers: who.auth,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ data: EventRow[]; nextCursor: string | null }>();
}

interface EventRow {
  id: string;
  type: string;
  userId: string | null;
  ip: string | null;
  requestId: string | null;
  metadata: Record<string, unknown>;
}

describe('who may read the logs', () => {
  const roles: [Role, number][] = [
    ['viewer', 403],
    ['agent', 403],
    ['admin', 200],
    ['owner', 200],
  ];
  it.each(roles)('answers a %s with %i', async (role, status) => {
    const a = await registerOrg(t.app, 'A');
    const who = role === 'owner' ? a : await memberWithRole(t, a.orgId, role);
    for (const url of ['/api/v1/audit-logs', '/api/v1/security-events']) {
      const res = await t.app.inject({ method: 'GET', url, headers: who.auth });
      expect(res.statusCode, url).toBe(status);
      if (status === 403) expect(res.json()).toMatchObject({ code: 'forbidden' });
    }
  });

  it.each(['/api/v1/audit-logs', '/api/v1/security-events'])(
    'refuses an anonymous read of %s',
    async (url) => {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(401);
    },
  );
});

describe('security events', () => {
  it("shows an admin its own organization's events only, never those of no or another organization", async () => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    const { audit } = t.app.ctx;
    const base = { ip: '198.51.100.9', userAgent: 'curl/8', requestId: 'req-sec-1' };
    await audit.securityEvent({
      ...base,
      orgId: a.orgId,
      userId: a.userId,
      type: 'refresh_token_reuse',
      metadata: { sessionId: 'S1', refreshToken: 'leaked', password: 'p' },
    });
    await audit.securityEvent({
      ...base,
      orgId: null,
      type: 'login_failed',
      metadata: { email: 'x@y.z' },
    });
    await audit.securityEvent({ ...base, orgId: b.orgId, type: 'csrf_failed' });

    const data = (await eventsOf(a)).data.filter((e) => e.requestId === 'req-sec-1');
    expect(data).toEqual([
      {
        id: expect.any(String),
        at: expect.any(String),
        type: 'refresh_token_reuse',
        userId: a.userId,
        ip: '198.51.100.9',
        userAgent: 'curl/8',
        requestId: 'req-sec-1',
        metadata: { sessionId: 'S1' },
      },
    ]);
    const forB = await eventsOf(b, '?type=csrf_failed');
    expect(forB.data.map((e) => e.type)).toEqual(['csrf_failed']);
    expect(forB.data.some((e) => data.some((d) => d.id === e.id))).toBe(false);
  });

  it('pages newest first with limit and cursor', async () => {
    const a = await registerOrg(t.app, 'A');
    for (const type of ['login_failed', 'lockout', 'rate_limited']) {
      await t.app.ctx.audit.securityEvent({ orgId: a.orgId, type, requestId: 'req-page' });
    }
    const first = await eventsOf(a, '?limit=2');
    expect(first.data.map((e) => e.type)).toEqual(['rate_limited', 'lockout']);
    const second = await eventsOf(a, `?limit=2&cursor=${first.nextCursor}`);
    expect(second.data.map((e) => e.type)).toEqual(['login_failed']);
    expect(second.nextCursor).toBeNull();
  });
});
