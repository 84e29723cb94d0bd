import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { openDatabase } from '../server.js';

/** `bastion migrate`: applies pending migrations under an advisory lock (see db/migrate.ts). */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (safe to run from several instances at once)')
    .action(async () => {
      const db = await openDatabase(loadConfig());
      try {
        const applied = await db.migrate();
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
      } finally {
        await db.close();
      }
    });
}
