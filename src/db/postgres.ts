import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, PostgresJsDatabase, PostgresJsSession } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import {
  assertOrgId,
  SCOPE_SQL,
  type Database,
  type DatabaseOptions,
  type LoginRole,
  type Tx,
} from './database.js';
import { ConnectionPool } from './connections.js';
import { StatementLanes } from './lanes.js';
import { migrate, type OwnerConnection } from './migrate.js';

type Params = postgres.ParameterOrJSON<never>[] | undefined;
type Unsafe = (query: string, params: Params) => ReturnType<postgres.Sql['unsafe']>;

const LANES = 4;
const LANE_STATEMENT_TIMEOUT_MS = 5_000;
const MORE_THAN_ONE = 'withOrgStatement: the work ran more than one statement';

/** PostgreSQL: transactions on connections lent one at a time, reads also on shared lanes. */
export async function createPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  // Pings, role checks; and the client drizzle installs its date parsers on.
  const client = postgres(url, { max: 1, fetch_types: false, onnotice: () => {} });
  drizzle({ client });
  const pool = new ConnectionPool(url, opts.poolSize ?? 10);
  for (const c of pool.all) c.shareParsers(client);
  const dialect = new PgDialect();
  // Drizzle over our own statement sender. Drizzle sends queries unnamed unless built with
  // .prepare(name), which makes PostgreSQL parse and plan each one every time; every
  // statement here is named (cached per connection by postgres.js).
  const drizzleOver = (unsafe: Unsafe): Tx =>
    new PostgresJsDatabase(
      dialect,
      new PostgresJsSession({ unsafe } as unknown as postgres.Sql, dialect, undefined),
      undefined,
    );

  const loginRole = async (): Promise<LoginRole> => {
    const [r] = await client<{ name: string; superuser: boolean; bypass: boolean }[]>`
      select rolname as name, rolsuper as superuser, rolbypassrls as bypass
      from pg_roles where rolname = current_user`;
    return { name: r!.name, superuser: r!.superuser, bypassRls: r!.bypass };
  };
  // Lanes lean on row-level security binding the login role itself (see lanes.ts).
  const role = await loginRole();
  const lanes =
    role.superuser || role.bypassRls
      ? null
      : new StatementLanes(url, LANES, LANE_STATEMENT_TIMEOUT_MS);
  lanes?.shareParsers(client);

  /**
   * One transaction on a connection of its own. BEGIN and the scope are pipelined with the
   * work's first statement; if either fails, the statements behind it fail too (the
   * transaction is aborted), so none runs unscoped. With `single`, COMMIT is queued right
   * behind the one statement and a second statement, which would run after COMMIT, throws.
   * Nothing is queued once the connection has dropped (it would run on the new connection,
   * outside this transaction) or once the transaction is over.
   */
  const exclusive = async <T>(
    orgId: string | null,
    work: (tx: Tx) => Promise<T>,
    single: boolean,
  ): Promise<T> => {
    const conn = await pool.acquire();
    const { sql } = conn;
    const generation = conn.generation;
    let finished = false;
    const usable = () => {
      if (finished) throw new Error('the transaction is over');
      if (conn.generation !== generation) throw new Error('the connection was lost');
    };
    try {
      const ready = Promise.all([
        sql`begin`.execute(),
        sql.unsafe(SCOPE_SQL, [orgId ?? ''], { prepare: true }).execute(),
      ]);
      ready.catch(() => {}); // awaited below; keeps an early failure from being "unhandled"
      let commit: Promise<unknown> | undefined;
      let statements = 0;
      const tx = drizzleOver((query, params) => {
        usable();
        if (single && statements > 0) throw new Error(MORE_THAN_ONE);
        statements++;
        const pending = sql.unsafe(query, params, { prepare: true });
        if (single) {
          void pending.execute(); // drizzle awaits `pending` itself
          commit = sql`commit`.execute();
          commit.catch(() => {});
        }
        return pending;
      });
      try {
        const result = await work(tx);
        await ready;
        if (!commit) {
          usable();
          commit = sql`commit`.execute();
        }
        await commit;
        return result;
      } catch (err) {
        if (commit) await commit.catch(() => {});
        else if (conn.generation === generation) await sql`rollback`.catch(() => {});
        await ready; // a failed BEGIN/scope is the real cause; report it first
        throw err;
      }
    } finally {
      finished = true;
      pool.release(conn);
    }
  };

  /** A single-statement read on a shared lane (see lanes.ts). */
  const onLane = async <T>(
    laneSet: StatementLanes,
    orgId: string,
    work: (tx: Tx) => Promise<T>,
  ): Promise<T> => {
    let done: Promise<unknown> | undefined;
    const tx = drizzleOver((query, params) => {
      if (done) throw new Error(MORE_THAN_ONE);
      const group = laneSet.read(orgId, query, params);
      done = group.done;
      return group.statement;
    });
    try {
      return await work(tx);
    } finally {
      await done; // BEGIN, scope, COMMIT: their failure is the real cause of any other
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
    withOrg: (orgId, work) => (assertOrgId(orgId), exclusive(orgId, work, false)),
    withOrgStatement: (orgId, work) => (assertOrgId(orgId), exclusive(orgId, work, true)),
    withOrgRead: (orgId, work) => (
      assertOrgId(orgId),
      lanes ? onLane(lanes, orgId, work) : exclusive(orgId, work, true)
    ),
    withoutOrg: (work) => exclusive(null, work, false),
    migrate: () => migrate(owner),
    loginRole,
    ping: async () => {
      await client`select 1`;
    },
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), pool.end(), lanes?.close()]);
    },
  };
}
