import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Database, Tx } from './database.js';

/** Runs work in one transaction as the owner role (which sees every organization's rows). */
export type OwnerRun = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

export interface Owner {
  run: OwnerRun;
  close(): Promise<void>;
}

/** Transactions as the owner role of DATABASE_MIGRATION_URL (PostgreSQL). */
export function postgresOwner(migrationUrl: string): Owner {
  const client = postgres(migrationUrl, { max: 1, onnotice: () => {} });
  const owner = drizzle({ client });
  return {
    run: (work) => owner.transaction((tx) => work(tx as unknown as Tx)),
    close: () => client.end(),
  };
}

/**
 * Embedded PGlite has one (superuser) login, the owner of every table. Requests drop to
 * bastion_app for their transaction; here the transaction-local role is reset instead.
 */
export function pgliteOwner(db: Database): Owner {
  return {
    run: (work) =>
      db.withoutOrg(async (tx) => {
        await tx.execute(sql`select set_config('role', 'none', true)`);
        return work(tx);
      }),
    close: async () => {},
  };
}

export const ownerOf = (db: Database, migrationUrl: string | undefined): Owner =>
  db.kind === 'pglite' || !migrationUrl ? pgliteOwner(db) : postgresOwner(migrationUrl);
