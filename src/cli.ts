#!/usr/bin/env node
import { Command } from 'commander';
import { registerAuditCommands } from './cli/audit.js';
import { registerKeyCommands } from './cli/keys.js';
import { registerMigrateCommand } from './cli/migrate.js';
import { registerStartCommand } from './cli/start.js';
import { explainDatabaseError } from './db/errors.js';

/** `bastion`: every command lives in src/cli/, one file per command group. */
const program = new Command('bastion').description('Bastion server administration');
registerStartCommand(program);
registerMigrateCommand(program);
registerKeyCommands(program);
registerAuditCommands(program);

program.parseAsync().catch((err: unknown) => {
  const message = explainDatabaseError(err) ?? (err instanceof Error ? err.message : String(err));
  process.stderr.write(`bastion: ${message}\n`);
  process.exit(1);
});
