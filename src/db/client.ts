import type { Database, DatabaseOptions } from './database.js';

export {
  assertOrgId,
  rows,
  SCOPE_SQL,
  scopeStatement,
  type Database,
  type DatabaseOptions,
  type LoginRole,
  type Tx,
} from './database.js';

/** The database DATABASE_URL names (PostgreSQL), else the embedded PGlite. */
export async function createDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url) {
    const { createPostgres } = await import('./postgres.js');
    return createPostgres(opts.url, opts);
  }
  const { createPglite } = await import('./pglite.js');
  return createPglite(opts);
}
