import { join } from 'node:path';
import type { Config } from '../config.js';
import type { OwnerQuery } from './chain.js';

export interface OwnerConnection {
  /**
   * Runs `work` in one read-only REPEATABLE READ transaction: every query sees the same
   * snapshot, so rows appended or organizations removed meanwhile cannot look like a break.
   */
  snapshot<T>(work: (q: OwnerQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A connection as the owner role (DATABASE_MIGRATION_URL, else DATABASE_URL; PGlite under
 * DATA_DIR otherwise). Verification must see every organization's rows, which row-level
 * security hides from the application role.
 */
export async function openOwner(config: Config): Promise<OwnerConnection> {
  const url = config.databaseMigrationUrl ?? config.databaseUrl;
  if (url) {
    const { default: postgres } = await import('postgres');
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    return {
      snapshot: async <T>(work: (q: OwnerQuery) => Promise<T>) =>
        (await sql.begin('isolation level repeatable read read only', (tx) =>
          work({
            query: async <R>(text: string, params: unknown[] = []) =>
              (await tx.unsafe(text, params as never[])) as unknown as R[],
          }),
        )) as T,
      close: () => sql.end(),
    };
  }
  const { openEmbedded } = await import('../db/pglite.js');
  const pg = await openEmbedded(join(config.dataDir, 'pgdata'));
  return {
    snapshot: (work) =>
      pg.transaction(async (tx) => {
        await tx.exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        return work({
          query: async <R>(text: string, params?: unknown[]) =>
            (await tx.query<R>(text, params)).rows,
        });
      }),
    close: () => pg.close(),
  };
}
