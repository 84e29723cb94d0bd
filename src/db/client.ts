import { PGlite } from '@electric-sql/pglite';
import { sql as dsql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import {
  drizzle as drizzlePostgres,
  PostgresJsDatabase,
  PostgresJsSession,
} from 'drizzle-orm/postgres-js';
import { mkdirSync } from 'node:fs';
import postgres from 'postgres';
import { isUuid } from './ids.js';
import { migrate, type OwnerConnection } from './migrate.js';

/** What a handler gets inside withOrg: drizzle, bound to one transaction. */
export type Tx = PgDatabase<PgQueryResultHKT>;

export interface LoginRole {
  name: string;
  superuser: boolean;
  bypassRls: boolean;
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  /**
   * The only way to tenant data: one transaction running as `bastion_app` with
   * `app.org_id` set to `orgId`, so row-level security confines every statement in it.
   */
  withOrg<T>(orgId: string, work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * withOrg for work that is exactly one statement (a read, or a write with RETURNING): on
   * PostgreSQL the whole transaction then takes one round trip. A second statement throws.
   */
  withOrgStatement<T>(orgId: string, work: (tx: Tx) => Promise<T>): Promise<T>;
  /** The same, with no organization: RLS shows no tenant rows; for the SECURITY DEFINER lookups. */
  withoutOrg<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Applies pending migrations as the owner role. */
  migrate(): Promise<string[]>;
  /** The role the server logs in as (RLS only holds if it is neither superuser nor BYPASSRLS). */
  loginRole(): Promise<LoginRole>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** PGlite only: the data directory as a tarball, to start copies from (tests). */
  dumpDataDir?: () => Promise<Blob>;
}

export interface DatabaseOptions {
  /** PostgreSQL login role URL; unset means embedded PGlite. */
  url?: string | undefined;
  /** Owner role URL for migrations; defaults to `url`. */
  migrationUrl?: string | undefined;
  /** PGlite data directory; unset means in memory. */
  dataDir?: string | undefined;
  /** PGlite: start from this dump (see `dumpDataDir`), for fast test setup. */
  loadDataDir?: Blob | undefined;
  poolSize?: number;
}

/**
 * Transaction-local role and organization, in one statement. Both are set with
 * is_local = true, so they end with the transaction and never leak to the next user of
 * the pooled connection. The query that follows is a separate statement: PostgreSQL does
 * not promise the order in which parts of one statement run.
 */
const scope = (orgId: string | null): SQL =>
  dsql`select set_config('role', 'bastion_app', true), set_config('app.org_id', ${orgId ?? ''}, true)`;

function assertOrgId(orgId: string): void {
  if (!isUuid(orgId)) throw new TypeError('withOrg needs an organization uuid');
}

export async function createDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? createPostgres(opts.url, opts) : createPglite(opts);
}

async function createPglite(opts: DatabaseOptions): Promise<Database> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const pg = await PGlite.create(opts.dataDir ?? 'memory://', {
    ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}),
  });
  const db = drizzlePglite({ client: pg });
  // PGlite has one connection; its transaction() holds a lock so that concurrent
  // requests queue instead of interleaving statements under another organization's settings.
  const run = <T>(orgId: string | null, work: (tx: Tx) => Promise<T>) =>
    db.transaction(async (tx) => {
      await tx.execute(scope(orgId));
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

async function createPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  const client = postgres(url, {
    max: opts.poolSize ?? 10,
    onnotice: () => {},
    connection: { application_name: 'bastion' },
  });
  // Builds drizzle's date parsers into the client's options; reserved connections share them.
  drizzlePostgres({ client });
  const dialect = new PgDialect();

  /**
   * BEGIN and the scope statement are pipelined with the work's first query: all are
   * written to the reserved connection at once. If BEGIN or the scope fails, the queries
   * behind it fail too (the transaction is aborted), so no query ever runs unscoped.
   * BEGIN/COMMIT go through the extended protocol like the rest: postgres.js pipelines
   * those, while a simple-protocol query (unsafe without parameters) costs a round trip.
   *
   * With `single`, the work must be one statement, and COMMIT is queued right behind it:
   * the whole transaction is one write and one round trip. postgres.js hands queries to the
   * connection in the order their execute() was called, so COMMIT cannot overtake the
   * statement; a second statement would run after COMMIT, outside the scope, so it throws.
   * If the statement fails, PostgreSQL turns that COMMIT into a rollback.
   */
  const run = async <T>(
    orgId: string | null,
    work: (tx: Tx) => Promise<T>,
    single: boolean,
  ): Promise<T> => {
    const conn = await client.reserve();
    try {
      const ready = Promise.all([
        conn`begin`.execute(),
        conn`select set_config('role', 'bastion_app', true), set_config('app.org_id', ${orgId ?? ''}, true)`.execute(),
      ]);
      ready.catch(() => {}); // observed below; keeps an early failure from being "unhandled"
      let commit: Promise<unknown> | undefined;
      let statements = 0;
      // What drizzle's session calls. Drizzle sends queries unnamed unless built with
      // .prepare(name), so PostgreSQL would parse and plan each one on every request; named
      // statements (cached per connection by postgres.js, by query text) are parsed once.
      const session = {
        unsafe: (query: string, params?: postgres.ParameterOrJSON<never>[]) => {
          if (single && statements > 0) {
            throw new Error('withOrgStatement: the work ran more than one statement');
          }
          statements++;
          const pending = conn.unsafe(query, params, { prepare: true });
          if (single) {
            void pending.execute(); // awaited by drizzle, which holds `pending`
            commit = conn`commit`.execute();
            commit.catch(() => {});
          }
          return pending;
        },
      } as unknown as postgres.Sql;
      const tx = new PostgresJsDatabase(
        dialect,
        new PostgresJsSession(session, dialect, undefined),
        undefined,
      );
      try {
        const result = await work(tx);
        await ready;
        await (commit ?? conn`commit`);
        return result;
      } catch (err) {
        await (commit ?? conn`rollback`).catch(() => {});
        await ready; // a failed BEGIN/scope is the real cause; report it first
        throw err;
      }
    } finally {
      conn.release();
    }
  };

  const ownerUrl = opts.migrationUrl ?? url;
  const owner: OwnerConnection = async (work) => {
    const ownerClient = postgres(ownerUrl, { max: 1, onnotice: () => {} });
    try {
      return (await ownerClient.begin((t) =>
        work({
          query: async <R>(text: string, params?: unknown[]) =>
            (await t.unsafe(text, (params ?? []) as never[])) as unknown as R[],
          exec: async (script) => {
            await t.unsafe(script);
          },
        }),
      )) as Awaited<ReturnType<typeof work>>;
    } finally {
      await ownerClient.end();
    }
  };

  return {
    kind: 'postgres',
    withOrg: (orgId, work) => (assertOrgId(orgId), run(orgId, work, false)),
    withOrgStatement: (orgId, work) => (assertOrgId(orgId), run(orgId, work, true)),
    withoutOrg: (work) => run(null, work, false),
    migrate: () => migrate(owner),
    loginRole: async () => {
      const [r] = await client<{ name: string; superuser: boolean; bypass: boolean }[]>`
        select rolname as name, rolsuper as superuser, rolbypassrls as bypass
        from pg_roles where rolname = current_user`;
      return { name: r!.name, superuser: r!.superuser, bypassRls: r!.bypass };
    },
    ping: async () => {
      await client`select 1`;
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/** Rows of a raw `tx.execute`, whichever driver ran it. */
export async function rows<R>(tx: Tx, query: SQL): Promise<R[]> {
  const res: unknown = await tx.execute(query);
  return (Array.isArray(res) ? res : (res as { rows: unknown[] }).rows) as R[];
}
