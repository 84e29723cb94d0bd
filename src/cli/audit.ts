import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { CURRENT_ROLE_SQL, notOwnerMessage, type CurrentRole } from '../db/owner-role.js';
import { verifyChains } from '../audit/chain.js';
import { openOwner } from '../audit/owner.js';

/** `bastion audit verify`: exit 0 when every chain is intact, 1 naming the first bad row. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit log');
  audit
    .command('verify')
    .description("recompute every organization's audit hash chain (as the owner role)")
    .action(async () => {
      const owner = await openOwner(loadConfig());
      try {
        const { organizations, rows, broken } = await owner.snapshot(async (q) => {
          const [table] = await q.query<{ name: string | null }>(
            "SELECT to_regclass('public.audit_chain_heads')::text AS name",
          );
          if (!table?.name) {
            throw new Error('this database has no audit log: run `bastion migrate` first');
          }
          const [me] = await q.query<CurrentRole>(CURRENT_ROLE_SQL);
          if (!me?.exempt) throw new Error(notOwnerMessage('audit verify', me?.name));
          return verifyChains(q);
        });
        if (!broken) {
          process.stdout.write(
            `audit log intact: ${rows} rows in ${organizations} organizations\n`,
          );
          return;
        }
        const where = broken.rowId
          ? `organization ${broken.orgId}, row ${broken.rowId} (seq ${broken.seq})`
          : `organization ${broken.orgId}`;
        process.stdout.write(`audit log BROKEN at ${where}: ${broken.reason}\n`);
        process.stderr.write(`bastion: audit chain broken at ${where}\n`);
        process.exitCode = 1;
      } finally {
        await owner.close();
      }
    });
}
