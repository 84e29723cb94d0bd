import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, testApp, type TestApp } from '../helpers/app.js';
import { services } from '../helpers/services.js';
import { newIp } from '../identity/helpers.js';
import { eventually, freePort, hasRedisServer, startRedis, stopRedis } from './own-redis.js';

/**
 * Issue 4, "Redis failure": with Redis gone, sign-in fails closed (503) while everything
 * else keeps serving on per-instance counters, /ready says so, and it all heals when
 * Redis returns. The Redis here is this file's own redis-server, never the shared one.
 */

const login = (app: FastifyInstance, email: string, ip: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-auth-mode': 'token' },
    remoteAddress: ip,
    payload: { email, password: PASSWORD },
  });

describe.skipIf(!hasRedisServer)('Redis going away and coming back (own redis-server)', () => {
  const MAX = 20;
  let port: number;
  let redis: ChildProcess | undefined;
  let t: TestApp;
  const ip = newIp();
  const email = `redis-${randomUUID()}@example.test`;
  let auth: { authorization: string };

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    t = await testApp({ REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MAX: String(MAX) });
    const reg = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'x-auth-mode': 'token' },
      remoteAddress: ip,
      payload: { organizationName: 'Redis Org', name: 'Owner', email, password: PASSWORD },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    auth = { authorization: `Bearer ${reg.json<{ accessToken: string }>().accessToken}` };
  });
  afterAll(async () => {
    await t?.close();
    await stopRedis(redis);
  });

  const customers = () =>
    t.app.inject({ url: '/api/v1/customers', headers: auth, remoteAddress: ip });

  it('serves normally while Redis answers', async () => {
    expect((await login(t.app, email, ip)).statusCode).toBe(200);
    const ready = await t.app.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ checks: { database: 'ok', redis: 'ok' } });
  });

  it('with Redis killed: /ready answers 503 naming redis, /health stays 200', async () => {
    await stopRedis(redis);
    const ready = await t.app.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ code: 'unavailable', checks: { redis: 'down' } });
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
  });

  it.each([
    ['sign-in', (app: FastifyInstance) => login(app, email, ip)],
    ['sign-in from another address', (app: FastifyInstance) => login(app, email, newIp())],
    [
      'registration',
      (app: FastifyInstance) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/auth/register',
          remoteAddress: newIp(),
          payload: {
            organizationName: 'Org',
            name: 'Someone',
            email: `redis-${randomUUID()}@example.test`,
            password: PASSWORD,
          },
        }),
    ],
  ])('fails closed on %s: 503 unavailable with Retry-After, fast', async (_name, send) => {
    const started = Date.now();
    const res = await send(t.app);
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json()).toMatchObject({ status: 503, code: 'unavailable' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.body).not.toMatch(/redis|ECONNREFUSED|stream|ioredis/i);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('fails the login lockout closed too: its counters refuse instead of forgetting', async () => {
    // app.ts hands ctx.counters to the LoginLockout: a per-instance count would multiply
    // a guesser's attempts by the number of instances.
    await expect(t.app.ctx.counters.hit('login:probe', 60_000)).rejects.toMatchObject({
      code: 'unavailable',
    });
    await expect(t.app.ctx.counters.peek('login:probe')).rejects.toMatchObject({
      code: 'unavailable',
    });
  });

  it('keeps serving other routes, still limited, on per-instance counters', async () => {
    for (let i = 1; i <= MAX; i++) {
      const res = await customers();
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBe(String(MAX - i));
    }
    expect((await customers()).statusCode).toBe(429);
  });

  it('recovers by itself once Redis is back on the same port', async () => {
    redis = await startRedis(port);
    await eventually(async () => (await t.app.inject({ url: '/ready' })).statusCode === 200);
    expect((await login(t.app, email, newIp())).statusCode).toBe(200);
    // Counting is back in (the fresh) Redis, not in the per-instance window spent above.
    const res = await customers();
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers['ratelimit-remaining'])).toBeGreaterThan(MAX - 5);
  });
});

describe.skipIf(!hasRedisServer)('starting with a configured Redis that does not answer', () => {
  it('refuses to start (exit 1), as with an unreachable database', async () => {
    const port = await freePort(); // nothing listens there
    const dataDir = mkdtempSync(join(tmpdir(), 'bastion-redis-start-'));
    const db = services();
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: resolve(import.meta.dirname, '../..'),
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'test',
          HOST: '127.0.0.1',
          PORT: '0',
          DATA_DIR: dataDir,
          LOG_LEVEL: 'silent',
          JWT_SECRET: randomBytes(32).toString('base64url'),
          ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
          REDIS_URL: `redis://127.0.0.1:${port}`,
          ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
          ...(db.migrationUrl ? { DATABASE_MIGRATION_URL: db.migrationUrl } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((done) => child.on('exit', done));
      expect(code).toBe(1);
      expect(stderr).toMatch(/"level":"fatal"/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
