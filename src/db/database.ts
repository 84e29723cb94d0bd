/**
 * What the rest of the code sees of the database: the types and the scoping statement.
 * The drivers (pglite.ts, postgres.ts, lanes.ts) import this file, and client.ts chooses
 * between them, so nothing imports back into the factory.
 */
import { sql as dsql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { isUuid } from './ids.js';

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
   * PostgreSQL the whole transaction is then sent at once. A second statement throws.
   */
  withOrgStatement<T>(orgId: string, work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * withOrgStatement for one SELECT that also names its organization itself (its
   * `organization_id = orgId` condition): on PostgreSQL it may share a connection with
   * other requests' reads (see lanes.ts). Anything else throws.
   */
  withOrgRead<T>(orgId: string, work: (tx: Tx) => Promise<T>): Promise<T>;
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
 * Transaction-local role and organization, in one statement ($1: the organization id, or
 * '' for none). Both are set with is_local = true, so they end with the transaction and
 * never leak to the next user of a pooled connection. The query that follows is a separate
 * statement: PostgreSQL does not promise the order in which parts of one statement run.
 */
export const SCOPE_SQL =
  "select set_config('role', 'bastion_app', true), set_config('app.org_id', $1, true)";
export const scopeStatement = (orgId: string | null): SQL =>
  dsql`select set_config('role', 'bastion_app', true), set_config('app.org_id', ${orgId ?? ''}, true)`;

export function assertOrgId(orgId: string): void {
  if (!isUuid(orgId)) throw new TypeError('withOrg needs an organization uuid');
}

/** Rows of a raw `tx.execute`, whichever driver ran it. */
export async function rows<R>(tx: Tx, query: SQL): Promise<R[]> {
  const res: unknown = await tx.execute(query);
  return (Array.isArray(res) ? res : (res as { rows: unknown[] }).rows) as R[];
}
