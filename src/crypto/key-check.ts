import { sql } from 'drizzle-orm';
import { rows, type Database } from '../db/client.js';

/** A key id that stored values name but ENCRYPTION_KEYS lacks, and where it is used. */
export interface MissingKey {
  keyId: string;
  uses: { label: string; count: number }[];
}

export class MissingKeyError extends Error {
  constructor(readonly missing: MissingKey[]) {
    const what = missing
      .map((m) => `"${m.keyId}" (${m.uses.map((u) => `${u.label}: ${u.count}`).join(', ')})`)
      .join('; ');
    super(
      `ENCRYPTION_KEYS lacks key id(s) that stored values need: ${what}. Add the key(s) back ` +
        'after the active one; `bastion keys rotate` then moves the values to the active key',
    );
    this.name = 'MissingKeyError';
  }
}

/**
 * Every key id the encrypted columns use (see encryption_key_ids in migration 0006),
 * compared with the configured keys. A server started without one would answer 500 on
 * every request that reads such a value (a channel's webhooks, a member's sign-in), so the
 * start stops instead, naming the id and its columns.
 */
export async function checkKeyIds(db: Database, configured: readonly { id: string }[]) {
  const used = await db.withoutOrg((tx) =>
    rows<{ label: string; key_id: string; n: string | number }>(
      tx,
      sql`select label, key_id, n from encryption_key_ids() order by key_id, label`,
    ),
  );
  const have = new Set(configured.map((k) => k.id));
  const missing = new Map<string, MissingKey>();
  for (const u of used) {
    if (have.has(u.key_id)) continue;
    const entry = missing.get(u.key_id) ?? { keyId: u.key_id, uses: [] };
    entry.uses.push({ label: u.label, count: Number(u.n) });
    missing.set(u.key_id, entry);
  }
  if (missing.size > 0) throw new MissingKeyError([...missing.values()]);
}
