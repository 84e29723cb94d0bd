import { and, eq } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { securityEvents } from '../../src/db/schema/audit.js';
import { addressKey } from '../../src/security/addresses.js';
import { SEND, UPLOAD } from '../../src/security/rate-limit.js';
import { testApp, type TestApp } from '../helpers/app.js';
import { services } from '../helpers/services.js';
import { newIp } from '../identity/helpers.js';
import { badLogin, expectLimited, list, MAX, owner, spend } from './limit-helpers.js';

/**
 * CONTRACT section 5, the general limit: RATE_LIMIT_MAX per window for every /api/v1
 * request, per user or API key (per address: limits-address.test.ts). Every test uses
 * users and addresses of its own: with Redis the counters are shared by the whole run.
 */

let t: TestApp;
beforeAll(async () => {
  t = await testApp({ RATE_LIMIT_MAX: String(MAX) });
});
afterAll(() => t.close());

describe('the general limit per credential', () => {
  it('counts a user down with RateLimit-* headers, then answers 429 with Retry-After', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip);
    for (let i = 1; i <= MAX; i++) {
      const res = await list(t.app, ip, a.auth);
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe(String(MAX));
      expect(res.headers['ratelimit-remaining']).toBe(String(MAX - i));
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
      expect(Number(res.headers['ratelimit-reset'])).toBeLessThanOrEqual(900);
    }
    const over = await list(t.app, ip, a.auth);
    expectLimited(over);
    expect(Number(over.headers['retry-after'])).toBe(Number(over.headers['ratelimit-reset']));
  });

  it('counts an authenticated request against its credential only, not its address', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip);
    const b = await owner(t.app, ip);
    await spend(MAX, () => list(t.app, ip, a.auth));
    expectLimited(await list(t.app, ip, a.auth));
    // Same address, another user, and an anonymous client: none paid for a's requests.
    expect((await list(t.app, ip, b.auth)).statusCode).toBe(200);
    expect((await badLogin(t.app, ip)).statusCode).toBe(401);
  });

  it('does not reset a spent credential when the client moves to another address', async () => {
    const a = await owner(t.app, newIp());
    await spend(MAX, () => list(t.app, newIp(), a.auth));
    expectLimited(await list(t.app, newIp(), a.auth));
  });

  it('counts an API key as its own client', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip);
    const made = await t.app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: a.auth,
      remoteAddress: ip,
      payload: { name: 'integration', scopes: ['customers:read'] },
    });
    expect(made.statusCode, made.body).toBe(201);
    const key = { authorization: `Bearer ${made.json<{ key: string }>().key}` };
    await spend(MAX, () => list(t.app, newIp(), key));
    expectLimited(await list(t.app, newIp(), key));
    // The user who made it has spent only one request (the key's creation).
    expect((await list(t.app, ip, a.auth)).headers['ratelimit-remaining']).toBe(String(MAX - 2));
  });

  it('records one sampled rate_limited security event per window, not one per refusal', async () => {
    const ip = newIp();
    const a = await owner(t.app, ip);
    await spend(MAX, () => list(t.app, ip, a.auth));
    for (let i = 0; i < 3; i++) expectLimited(await list(t.app, ip, a.auth));
    const events = await t.db.withOrg(a.orgId, (tx) =>
      tx
        .select()
        .from(securityEvents)
        .where(
          and(eq(securityEvents.organizationId, a.orgId), eq(securityEvents.type, 'rate_limited')),
        ),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ip, metadata: { bucket: 'api' } });
  });
});

describe('the rules for later routes', () => {
  it('reads RATE_LIMIT_SEND_MAX and RATE_LIMIT_UPLOAD_MAX per user per minute', () => {
    const config = loadConfig({
      JWT_SECRET: 'x'.repeat(32),
      ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}`,
      RATE_LIMIT_SEND_MAX: '7',
      RATE_LIMIT_UPLOAD_MAX: '3',
    });
    expect([SEND.max(config), SEND.windowMs(config), SEND.by]).toEqual([7, 60_000, 'user']);
    expect([UPLOAD.max(config), UPLOAD.windowMs(config), UPLOAD.by]).toEqual([3, 60_000, 'user']);
    expect(SEND.failClosed ?? false).toBe(false);
  });

  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('keys the address %s as %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});

// Two instances share one database only with PostgreSQL (each PGlite is its own).
const shared = services();
describe.runIf(!!shared.databaseUrl && !!shared.redisUrl)('two instances sharing Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const env = {
      RATE_LIMIT_MAX: String(MAX),
      JWT_SECRET: randomBytes(32).toString('base64url'),
      ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}`,
    };
    [a, b] = await Promise.all([testApp(env), testApp(env)]);
  });
  afterAll(() => Promise.all([a.close(), b.close()]));

  it('shares one count per user across instances', async () => {
    const ip = newIp();
    const user = await owner(a.app, ip);
    const apps = [a.app, b.app];
    for (let i = 0; i < MAX; i++) {
      const res = await list(apps[i % 2]!, ip, user.auth);
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBe(String(MAX - i - 1));
    }
    expectLimited(await list(a.app, ip, user.auth));
    expectLimited(await list(b.app, ip, user.auth));
  });

  it('shares one count per address across instances', async () => {
    const ip = newIp();
    for (let i = 0; i < MAX; i++)
      expect((await badLogin(i % 2 ? a.app : b.app, ip)).statusCode).toBe(401);
    expectLimited(await badLogin(a.app, ip));
    expectLimited(await badLogin(b.app, ip));
  });
});
