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
} from './client.js';
import { StatementLanes } from './lanes.js';
import { migrate, type OwnerConnection } from './migrate.js';

type Params = postgres.ParameterOrJSON<never>[] | undefined;

const LANES = 4;
const LANE_STATEMENT_TIMEOUT_MS = 5_000;

/** PostgreSQL through postgres.js: a pool for general transactions, lanes for single statements. */
export async function createPostgres(url: string, opts: DatabaseOptions): Promise<Database> {
  const client = postgres(url, {
    max: opts.poolSize ?? 10,
    onnotice: () => {},
    connection: { application_name: 'bastion' },
  });
  drizzle({ client }); // installs drizzle's date parsers on the client; reserved connections share them
  const dialect = new PgDialect();
  const drizzleOver = (session: Pick<postgres.Sql, 'unsafe'>): Tx =>
    new PostgresJsDatabase(
      dialect,
      new PostgresJsSession(session as postgres.Sql, dialect, undefined),
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
   * A transaction on a connection of its own: BEGIN and the scope are pipelined with the
   * work's first statement, so they cost no extra round trip. If BEGIN or the scope fails,
   * the statements behind it fail too (the transaction is aborted): none runs unscoped.
   * Drizzle sends queries unnamed unless built with .prepare(name), which would make
   * PostgreSQL parse and plan each one every time; here every statement is named (cached
   * per connection by postgres.js). With `single`, COMMIT is queued right behind the one
   * statement (postgres.js sends a connection's queries in call order) and a second
   * statement, which would run after COMMIT, throws instead.
   */
  const exclusive = async <T>(
    orgId: string | null,
    work: (tx: Tx) => Promise<T>,
    single: boolean,
  ): Promise<T> => {
    const conn = await client.reserve();
    try {
      const ready = Promise.all([
        conn`begin`.execute(),
        conn.unsafe(SCOPE_SQL, [orgId ?? ''], { prepare: true }).execute(),
      ]);
      ready.catch(() => {}); // awaited below; keeps an early failure from being "unhandled"
      let commit: Promise<unknown> | undefined;
      let statements = 0;
      const tx = drizzleOver({
        unsafe: ((query: string, params: Params) => {
          if (single && statements > 0) throw new Error(MORE_THAN_ONE);
          statements++;
          const pending = conn.unsafe(query, params, { prepare: true });
          if (single) {
            void pending.execute(); // drizzle awaits `pending` itself
            commit = conn`commit`.execute();
            commit.catch(() => {});
          }
          return pending;
        }) as postgres.Sql['unsafe'],
      });
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

  /** A single-statement transaction on a shared lane (see lanes.ts). */
  const onLane = async <T>(
    laneSet: StatementLanes,
    orgId: string,
    work: (tx: Tx) => Promise<T>,
  ): Promise<T> => {
    let done: Promise<unknown> | undefined;
    const tx = drizzleOver({
      unsafe: ((query: string, params: Params) => {
        if (done) throw new Error(MORE_THAN_ONE);
        const group = laneSet.send(orgId, query, params);
        done = group.done;
        return group.statement;
      }) as postgres.Sql['unsafe'],
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
    withOrgStatement: (orgId, work) => (
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
      await Promise.all([client.end({ timeout: 5 }), lanes?.close()]);
    },
  };
}

const MORE_THAN_ONE = 'withOrgStatement: the work ran more than one statement';
