import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { mkdirSync } from 'node:fs';
import {
  assertOrgId,
  scopeStatement,
  type Database,
  type DatabaseOptions,
  type Tx,
} from './database.js';
import { lockDataDir } from './datadir-lock.js';
import { migrate, type OwnerConnection } from './migrate.js';

/**
 * PGlite on a data directory (or in memory), holding the directory's lock (see
 * datadir-lock.ts) until it is closed: the only way this code base opens one.
 */
export async function openEmbedded(dataDir?: string, loadDataDir?: Blob): Promise<PGlite> {
  if (!dataDir) return PGlite.create('memory://', loadDataDir ? { loadDataDir } : {});
  mkdirSync(dataDir, { recursive: true });
  const release = lockDataDir(dataDir);
  try {
    const pg = await PGlite.create(dataDir, loadDataDir ? { loadDataDir } : {});
    const close = pg.close.bind(pg);
    pg.close = () => close().finally(release);
    return pg;
  } catch (err) {
    release();
    throw err;
  }
}

/** The embedded database: PostgreSQL in WebAssembly, one connection, data under DATA_DIR. */
export async function createPglite(opts: DatabaseOptions): Promise<Database> {
  const pg = await openEmbedded(opts.dataDir, opts.loadDataDir);
  const db = drizzle({ client: pg });
  // PGlite has one connection; its transaction() holds a lock so that concurrent
  // requests queue instead of interleaving statements under another organization's settings.
  const run = <T>(orgId: string | null, work: (tx: Tx) => Promise<T>) =>
    db.transaction(async (tx) => {
      await tx.execute(scopeStatement(orgId));
      return work(tx);
    });
  const owner: OwnerConnection = (work) =>
    pg.transaction((t) =>
      work({
        query: async <R>(text: string, params?: unknown[]) => (await t.query<R>(text, params)).rows,
        exec: async (script) => {
          await t.exec(script);
        },
      }),
    );
  return {
    kind: 'pglite',
    withOrg: (orgId, work) => (assertOrgId(orgId), run(orgId, work)),
    withOrgStatement: (orgId, work) => (assertOrgId(orgId), run(orgId, work)),
    withOrgRead: (orgId, work) => (assertOrgId(orgId), run(orgId, work)),
    withoutOrg: (work) => run(null, work),
    migrate: () => migrate(owner),
    loginRole: async () => {
      const { rows } = await pg.query<{ name: string; superuser: boolean; bypass: boolean }>(
        'select rolname as name, rolsuper as superuser, rolbypassrls as bypass from pg_roles where rolname = current_user',
      );
      const r = rows[0]!;
      return { name: r.name, superuser: r.superuser, bypassRls: r.bypass };
    },
    ping: async () => {
      await pg.query('select 1');
    },
    close: () => pg.close(),
    dumpDataDir: () => pg.dumpDataDir('none'),
  };
}
