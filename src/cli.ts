#!/usr/bin/env node
import { Command } from 'commander';
import { registerAuditCommands } from './audit/cli.js';
import { loadConfig } from './config.js';
import { registerKeyCommands } from './crypto/cli.js';
import { explainDatabaseError } from './db/errors.js';
import { openDatabase } from './server.js';

const program = new Command('bastion').description('Bastion server administration');

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

registerAuditCommands(program);
registerKeyCommands(program);

program.parseAsync().catch((err: unknown) => {
  const message = explainDatabaseError(err) ?? (err instanceof Error ? err.message : String(err));
  process.stderr.write(`bastion: ${message}\n`);
  process.exit(1);
});
