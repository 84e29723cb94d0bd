import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { Keyring } from '../crypto/keyring.js';
import { rotateKeys } from '../crypto/rotate.js';
import { pgliteOwner, postgresOwner } from '../db/owner.js';
import { openDatabase } from '../server.js';

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
