import { sql } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { Database } from '../../src/db/client.js';
import { services } from './services.js';

/** Runs owner-level statements (DDL) on the test database, PGlite or PostgreSQL. */
async function asOwner(db: Database, statements: string[]): Promise<void> {
  const { migrationUrl } = services();
  if (db.kind === 'postgres' && migrationUrl) {
    const owner = postgres(migrationUrl, { max: 1, onnotice: () => {} });
    try {
      for (const s of statements) await owner.unsafe(s);
    } finally {
      await owner.end();
    }
    return;
  }
  // PGlite's one session is the superuser; the transaction only borrowed bastion_app.
  await db.withoutOrg(async (tx) => {
    await tx.execute(sql.raw('set local role none'));
    for (const s of statements) await tx.execute(sql.raw(s));
  });
}

/** A SQL string literal of a test-chosen value. */
export const literal = (value: string | number) => `'${String(value).replace(/'/g, "''")}'`;

/**
 * A fault only the rows a test picks meet: the database refuses to `on` into `table` a row
 * for which `when` (SQL over NEW) holds, as a constraint would (SQLSTATE 23514). Nothing in
 * our code is replaced; the statement really fails. Returns the undo.
 */
export async function refuseRows(
  db: Database,
  table: 'messages' | 'customers' | 'webhook_deliveries',
  on: 'insert' | 'update',
  when: string,
): Promise<() => Promise<void>> {
  const name = `test_refuse_${randomBytes(6).toString('hex')}`;
  await asOwner(db, [
    `create function ${name}() returns trigger language plpgsql as $fn$
     begin
       if ${when} then
         raise exception 'refused by the test fault' using errcode = '23514';
       end if;
       return new;
     end $fn$`,
    `create trigger ${name} before ${on} on ${table} for each row execute function ${name}()`,
  ]);
  return () => asOwner(db, [`drop trigger ${name} on ${table}`, `drop function ${name}()`]);
}
