import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDatabase } from '../../src/db/client.js';
import { createCustomer, registerOrg } from '../helpers/app.js';

const ownerUrl = process.env.DATABASE_MIGRATION_URL ?? process.env.DATABASE_URL;
const loginUrl = process.env.DATABASE_URL;

/** The same server URL, on another database. */
const onDatabase = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

describe.runIf(!!loginUrl)('tenant scope when PostgreSQL drops connections', () => {
  it('never answers with another organization’s rows while backends are killed under load', async () => {
    // A database of its own: killing its backends must not touch the other test files.
    const name = `bastion_fault_${randomBytes(4).toString('hex')}`;
    const admin = postgres(onDatabase(ownerUrl!, 'postgres'), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const dataDir = mkdtempSync(join(tmpdir(), 'bastion-fault-'));
    const db = await createDatabase({
      url: onDatabase(loginUrl!, name),
      migrationUrl: onDatabase(ownerUrl!, name),
      poolSize: 4,
    });
    const killer = postgres(onDatabase(ownerUrl!, name), { max: 1, onnotice: () => {} });
    try {
      await db.migrate();
      const config = loadConfig({
        NODE_ENV: 'test',
        LOG_LEVEL: process.env.FAULT_LOG ?? 'silent',
        DATA_DIR: dataDir,
        JWT_SECRET: randomBytes(32).toString('base64url'),
        ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}`,
        RATE_LIMIT_AUTH_IP_MAX: '1000000',
        RATE_LIMIT_MAX: '1000000',
      });
      const app = await buildApp({ config, db });
      await app.ready();
      try {
        const a = await registerOrg(app, 'A');
        const b = await registerOrg(app, 'B');
        const own = new Map([
          [
            a.orgId,
            new Set([(await createCustomer(app, a)).id, (await createCustomer(app, a)).id]),
          ],
          [
            b.orgId,
            new Set([(await createCustomer(app, b)).id, (await createCustomer(app, b)).id]),
          ],
        ]);
        let kills = 0;
        let served = 0;
        const until = Date.now() + 3_000;
        const storm = (async () => {
          while (Date.now() < until) {
            await killer`select pg_terminate_backend(pid) from pg_stat_activity
                         where datname = current_database() and pid <> pg_backend_pid()`;
            kills++;
            await new Promise((r) => setTimeout(r, 40));
          }
        })();
        while (Date.now() < until) {
          const wave = Array.from({ length: 40 }, (_, i) => {
            const m = i % 2 ? a : b;
            const ids = [...own.get(m.orgId)!];
            const url = i % 4 === 0 ? '/api/v1/customers' : `/api/v1/customers/${ids[i % 2]}`;
            return app.inject({ url, headers: m.auth }).then((res) => ({ m, res }));
          });
          for (const { m, res } of await Promise.all(wave)) {
            if (res.statusCode !== 200) continue; // a failed request is acceptable here
            served++;
            const body = res.json();
            const ids: string[] = body.data
              ? body.data.map((c: { id: string }) => c.id)
              : [body.id];
            for (const id of ids) expect(own.get(m.orgId)!.has(id)).toBe(true);
          }
        }
        await storm;
        expect(kills).toBeGreaterThan(10);
        expect(served).toBeGreaterThan(0);
        // And it recovers by itself once the database is left alone (a connection whose
        // death was not yet noticed may still fail one request).
        let after = await app.inject({ url: '/api/v1/customers', headers: a.auth });
        for (let i = 0; i < 30 && after.statusCode !== 200; i++) {
          await new Promise((r) => setTimeout(r, 100));
          after = await app.inject({ url: '/api/v1/customers', headers: a.auth });
        }
        expect(after.statusCode, after.body).toBe(200);
        expect(new Set(after.json().data.map((c: { id: string }) => c.id))).toEqual(
          own.get(a.orgId),
        );
      } finally {
        await app.close();
      }
    } finally {
      await db.close().catch(() => {});
      await killer.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
