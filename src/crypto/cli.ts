import type { Command } from 'commander';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { loadConfig } from '../config.js';
import type { Database, Tx } from '../db/client.js';
import { openDatabase } from '../server.js';
import { Keyring } from './keyring.js';
import { rotateKeys, type OwnerRun } from './rotate.js';

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

/** `bastion keys rotate`: see rotateKeys. */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage the encryption keyring');
  keys
    .command('rotate')
    .description('re-encrypt every encrypted column with the active (first) key of ENCRYPTION_KEYS')
    .action(async () => {
      const config = loadConfig();
      const db = config.databaseUrl ? null : await openDatabase(config);
      const owner = db ? pgliteOwner(db) : postgresOwner(config.databaseMigrationUrl!);
      try {
        const report = await rotateKeys(owner.run, new Keyring(config.encryptionKeys));
        for (const c of report.columns) {
          const what = c.present ? `${c.rotated} rotated` : 'not present';
          process.stdout.write(`${c.label}: ${what}\n`);
        }
        process.stdout.write(`rotated ${report.rotated} value(s) to key ${report.activeKeyId}\n`);
      } finally {
        await owner.close();
        await db?.close();
      }
    });
}
