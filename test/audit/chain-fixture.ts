import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { afterAll, afterEach, inject } from 'vitest';
import type { OwnerQuery } from '../../src/audit/chain.js';
import { AuditLog } from '../../src/audit/log.js';
import { createDatabase, rows, type Database } from '../../src/db/client.js';
import { services } from '../helpers/services.js';
import { bareOrg } from './helpers.js';

/**
 * Chains to tamper with, as the owner role, and `bastion audit verify` run as a process.
 * On PGlite the database lives under a DATA_DIR of its own, opened by one process at a time.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const svc = services();
const dataDir = mkdtempSync(join(tmpdir(), 'bastion-audit-'));
const pgdata = join(dataDir, 'pgdata');
let seeded = false;

/** The app's database: the run's PostgreSQL, or a PGlite under DATA_DIR (closed after use). */
export async function withDb<T>(work: (db: Database) => Promise<T>): Promise<T> {
  const db = svc.databaseUrl
    ? await createDatabase({ url: svc.databaseUrl, migrationUrl: svc.migrationUrl, poolSize: 2 })
    : await createDatabase({
        dataDir: pgdata,
        ...(seeded ? {} : { loadDataDir: new Blob([readFileSync(inject('pgliteSnapshot'))]) }),
      });
  seeded = true;
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** The owner role: DATABASE_MIGRATION_URL, or PGlite's superuser. */
export async function asOwner<T>(work: (q: OwnerQuery) => Promise<T>): Promise<T> {
  if (svc.migrationUrl) {
    const sql = postgres(svc.migrationUrl, { max: 1, onnotice: () => {} });
    try {
      return await work({
        query: async <R>(text: string, params: unknown[] = []) =>
          (await sql.unsafe(text, params as never[])) as unknown as R[],
      });
    } finally {
      await sql.end();
    }
  }
  const pg = await PGlite.create(pgdata);
  try {
    return await work({
      query: async <R>(text: string, params?: unknown[]) => (await pg.query<R>(text, params)).rows,
    });
  } finally {
    await pg.close();
  }
}

/** `bastion audit verify` as a real process, configured only by its environment. */
export function verify(): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'audit', 'verify'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
        ...(svc.databaseUrl ? { DATABASE_URL: svc.databaseUrl } : {}),
        ...(svc.migrationUrl ? { DATABASE_MIGRATION_URL: svc.migrationUrl } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

const orgs: string[] = [];
/** An organization with a chain of `n` rows; text that is hard to encode the same twice. */
export async function chain(n: number): Promise<{ orgId: string; ids: string[] }> {
  return withDb(async (db) => {
    const orgId = await bareOrg(db);
    orgs.push(orgId);
    const audit = new AuditLog(db);
    for (let i = 0; i < n; i++) {
      await db.withOrg(orgId, (tx) =>
        audit.record(tx, {
          orgId,
          actorId: null,
          action: `test.step_${i}`,
          targetType: 'customer',
          targetId: `ünï-${i}`,
          ip: '2001:db8::1',
          userAgent: 'Mozilla/5.0 (日本語) "quoted" \\ back',
          requestId: `req-${i}`,
          metadata: { n: i, f: 1.5, big: 1e21, s: 'tab\tnl\n"q" 😀', nested: { b: [true, null] } },
        }),
      );
    }
    const ids = await db.withOrg(orgId, (tx) =>
      rows<{ id: string }>(
        tx,
        sql`select id::text as id from audit_logs where organization_id = ${orgId}::uuid order by seq`,
      ),
    );
    return { orgId, ids: ids.map((r) => r.id) };
  });
}

/** Removes an organization as the owner: its rows and chain head go with it. */
export async function dropOrg(q: OwnerQuery, orgId: string): Promise<void> {
  await q.query('DELETE FROM organizations WHERE id = $1::uuid', [orgId]);
  const at = orgs.indexOf(orgId);
  if (at >= 0) orgs.splice(at, 1);
}

/** Each test's organizations go afterwards, so the database stays verifiable. */
export function useChainFixture(): void {
  afterEach(async () => {
    const done = orgs.splice(0);
    if (done.length === 0) return;
    await asOwner(async (q) => {
      for (const id of done) await q.query('DELETE FROM organizations WHERE id = $1::uuid', [id]);
    });
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
}
