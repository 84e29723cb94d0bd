import { migrations } from './migrations/index.js';

/** Runs SQL as the owner role inside one transaction; `query` returns rows, `exec` runs scripts. */
export interface OwnerTransaction {
  query<R>(text: string, params?: unknown[]): Promise<R[]>;
  exec(script: string): Promise<void>;
}
export type OwnerConnection = <T>(work: (tx: OwnerTransaction) => Promise<T>) => Promise<T>;

/** A fixed key for pg_advisory_xact_lock: 'bastion' as a 32-bit number. */
const MIGRATION_LOCK_KEY = 0x62617374;

/**
 * Applies pending migrations in one transaction under an advisory lock, so instances that
 * start together queue behind the first: the others then find nothing left to do.
 */
export async function migrate(transaction: OwnerConnection): Promise<string[]> {
  return transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS bastion_migrations (
      id text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await tx.query<{ id: string }>('SELECT id FROM bastion_migrations');
    const done = new Set(rows.map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO bastion_migrations (id) VALUES ($1)', [m.id]);
      applied.push(m.id);
    }
    return applied;
  });
}
