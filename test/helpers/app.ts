import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { createRedis } from '../../src/infra/redis.js';
import { services } from './services.js';

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  close(): Promise<void>;
}

let snapshot: Blob | undefined;

/** A test database: the run's PostgreSQL, or a fresh PGlite copied from the migrated snapshot. */
export async function testDatabase(): Promise<Database> {
  const env = services();
  if (env.databaseUrl)
    return createDatabase({ url: env.databaseUrl, migrationUrl: env.migrationUrl, poolSize: 4 });
  snapshot ??= new Blob([readFileSync(inject('pgliteSnapshot'))]);
  return createDatabase({ loadDataDir: snapshot });
}

/** A real app on a real database, configured as a deployment would be, plus overrides. */
export async function testApp(env: Record<string, string> = {}): Promise<TestApp> {
  const svc = services();
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-app-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}`,
    PUBLIC_URL: 'https://bastion.test',
    // Every test signs in from 127.0.0.1, and with Redis the counters are shared by the
    // whole run: tests of the per-address limit set their own low value and address.
    RATE_LIMIT_AUTH_IP_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
    ...(svc.databaseUrl ? { DATABASE_URL: svc.databaseUrl } : {}),
    ...(svc.redisUrl ? { REDIS_URL: svc.redisUrl } : {}),
    ...env,
  });
  const db = await testDatabase();
  const redis = config.redisUrl ? createRedis(config.redisUrl) : null;
  await redis?.connect();
  const app = await buildApp({ config, db, redis });
  await app.ready();
  return {
    app,
    db,
    async close() {
      await app.close();
      redis?.disconnect();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const PASSWORD = 'plum-harbor-lantern-42-quietly';

export interface Member {
  token: string;
  refreshToken: string;
  userId: string;
  orgId: string;
  email: string;
  auth: { authorization: string };
}

/** Registers a fresh organization (its owner signed in, token mode): each test makes its own. */
export async function registerOrg(app: FastifyInstance, name = 'Org'): Promise<Member> {
  const email = `owner-${randomUUID()}@example.test`;
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    headers: { 'x-auth-mode': 'token' },
    payload: {
      organizationName: `${name} ${randomUUID().slice(0, 8)}`,
      name: 'Owner',
      email,
      password: PASSWORD,
    },
  });
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  const body = res.json<{
    accessToken: string;
    refreshToken: string;
    user: { id: string };
    organization: { id: string };
  }>();
  return {
    token: body.accessToken,
    refreshToken: body.refreshToken,
    userId: body.user.id,
    orgId: body.organization.id,
    email,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

let phoneSeq = 0;
/** A unique E.164 number for this test process. */
export const newPhone = () =>
  `+1555${String(process.pid % 1000).padStart(3, '0')}${String(++phoneSeq).padStart(5, '0')}`;

export async function createCustomer(
  app: FastifyInstance,
  member: Member,
  body: Record<string, unknown> = {},
): Promise<{ id: string; name: string; phone: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/customers',
    headers: member.auth,
    payload: { name: 'Customer', phone: newPhone(), ...body },
  });
  if (res.statusCode !== 201)
    throw new Error(`create customer failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** A problem body without its per-request id, for comparing two answers. */
export function problemOf(res: LightMyRequestResponse) {
  const { requestId: _id, ...rest } = res.json<Record<string, unknown>>();
  return rest;
}
