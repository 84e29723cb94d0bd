import { sql } from 'drizzle-orm';
import { rows } from '../db/client.js';
import type { OwnerRun } from '../db/owner.js';
import { CURRENT_ROLE_SQL, notOwnerMessage, type CurrentRole } from '../db/owner-role.js';
import { TOTP_PENDING_SECRET, TOTP_SECRET } from '../db/schema/mfa.js';
import {
  CHANNEL_ACCESS_TOKEN,
  CHANNEL_APP_SECRET,
  CHANNEL_VERIFY_TOKEN,
} from '../db/schema/whatsapp.js';
import { Keyring } from './keyring.js';

/** A keyring-encrypted column; its label (`table.column`) is the associated data. */
export interface EncryptedColumn {
  table: string;
  column: string;
  /** The row's primary key column, to write the new value back to the same row. */
  key: string;
  label: string;
}

/**
 * Every encrypted column. A column missing here keeps its old key after a rotation, and
 * the old key can then never be dropped: add each new one.
 */
export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { table: 'user_totp', column: 'secret', key: 'user_id', label: TOTP_SECRET },
  { table: 'user_totp', column: 'pending_secret', key: 'user_id', label: TOTP_PENDING_SECRET },
  { table: 'channels', column: 'access_token', key: 'id', label: CHANNEL_ACCESS_TOKEN },
  { table: 'channels', column: 'app_secret', key: 'id', label: CHANNEL_APP_SECRET },
  { table: 'channels', column: 'verify_token', key: 'id', label: CHANNEL_VERIFY_TOKEN },
];

export type { OwnerRun };

export interface RotationReport {
  activeKeyId: string;
  rotated: number;
  columns: { label: string; rotated: number; present: boolean }[];
}

export class RotationError extends Error {}

const BATCH = 500;

async function assertSeesAllRows(run: OwnerRun) {
  const [me] = await run((tx) => rows<CurrentRole>(tx, sql.raw(CURRENT_ROLE_SQL)));
  // A rotation that silently found nothing would leave the old key in use while claiming success.
  if (!me?.exempt) throw new RotationError(notOwnerMessage('keys rotate', me?.name));
}

const columnExists = (run: OwnerRun, c: EncryptedColumn) =>
  run(async (tx) => {
    const found = await rows<{ one: number }>(
      tx,
      sql`select 1 as one from information_schema.columns
          where table_schema = current_schema() and table_name = ${c.table} and column_name = ${c.column}`,
    );
    return found.length > 0;
  });

/** Re-encrypts one batch of values not yet under the active key; returns how many. */
function rotateBatch(run: OwnerRun, keyring: Keyring, c: EncryptedColumn): Promise<number> {
  const [table, column, key] = [c.table, c.column, c.key].map((n) => sql.identifier(n));
  return run(async (tx) => {
    const batch = await rows<{ id: string; org: string; value: string }>(
      tx,
      sql`select ${key}::text as id, organization_id::text as org, ${column} as value from ${table}
          where ${column} is not null and split_part(${column}, '.', 2) <> ${keyring.activeId}
          limit ${BATCH} for update`,
    );
    for (const row of batch) {
      let plaintext: string;
      try {
        plaintext = keyring.decrypt(row.value, row.org, c.label);
      } catch {
        throw new RotationError(
          `${c.label} of row ${row.id} cannot be decrypted with ENCRYPTION_KEYS (key id "${Keyring.keyIdOf(row.value) ?? '?'}")`,
        );
      }
      const fresh = keyring.encrypt(plaintext, row.org, c.label);
      await tx.execute(
        sql`update ${table} set ${column} = ${fresh} where ${key}::text = ${row.id} and ${column} = ${row.value}`,
      );
    }
    return batch.length;
  });
}

/**
 * `bastion keys rotate`: re-encrypts every value of every encrypted column that is not yet
 * under the active (first) key, in batches. Idempotent: a second run finds nothing to do,
 * and a run cut short is finished by the next. Afterwards the old keys can be dropped.
 */
export async function rotateKeys(run: OwnerRun, keyring: Keyring): Promise<RotationReport> {
  await assertSeesAllRows(run);
  const report: RotationReport = { activeKeyId: keyring.activeId, rotated: 0, columns: [] };
  for (const c of ENCRYPTED_COLUMNS) {
    const present = await columnExists(run, c);
    let rotated = 0;
    for (let more = present; more;) {
      const n = await rotateBatch(run, keyring, c);
      rotated += n;
      more = n === BATCH;
    }
    report.columns.push({ label: c.label, rotated, present });
    report.rotated += rotated;
  }
  return report;
}
