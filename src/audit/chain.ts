import { createHash } from 'node:crypto';

/** Plain SQL as the owner role, which sees every organization's rows. */
export interface OwnerQuery {
  query<R>(text: string, params?: unknown[]): Promise<R[]>;
}

/** The first row at which an organization's chain stops adding up. */
export interface ChainBreak {
  orgId: string;
  /** The bad row, or null when the chain's end is missing and no row is left to name. */
  rowId: string | null;
  seq: number | null;
  reason: string;
}

export interface VerifyResult {
  organizations: number;
  rows: number;
  broken: ChainBreak | null;
}

const GENESIS: Buffer = Buffer.alloc(32);
const BATCH = 1000;

/** The text of every hashed column, exactly as the insert trigger of 0002_audit encodes it. */
const ROW_SQL = `
  SELECT id::text AS id, seq::text AS seq, organization_id::text AS org,
    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
    actor_id::text AS actor, action, target_type, target_id, ip, user_agent, request_id,
    metadata::text AS metadata, prev_hash, hash
  FROM audit_logs WHERE organization_id = $1::uuid AND seq > $2::bigint AND seq <= $3::bigint
  ORDER BY audit_logs.seq LIMIT ${BATCH}`;

interface Row {
  id: string;
  seq: string;
  org: string;
  at: string;
  actor: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  metadata: string;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

const field = (v: string | null) => (v === null ? '~' : `${Buffer.byteLength(v, 'utf8')}:${v}`);

/** SHA-256 over the previous hash and the row's length-prefixed fields (see audit_logs_chain). */
export function rowHash(prev: Buffer, r: Row): Buffer {
  const fields = [r.id, r.org, r.seq, r.at, r.actor, r.action, r.target_type, r.target_id];
  fields.push(r.ip, r.user_agent, r.request_id, r.metadata);
  const encoded = 'bastion-audit-v1' + fields.map(field).join('');
  return createHash('sha256').update(prev).update(encoded, 'utf8').digest();
}

/**
 * Walks one organization's chain up to its head. The head is read first: it commits with
 * the row it names, so every row up to it is visible by then, and rows appended while the
 * walk runs (beyond the head) are left for the next run instead of looking like a break.
 */
async function verifyOrg(db: OwnerQuery, orgId: string): Promise<[number, ChainBreak | null]> {
  let count = 0;
  let prev: Buffer = GENESIS;
  let last: Row | null = null;
  const bad = (row: Row | null, reason: string): [number, ChainBreak] => [
    count,
    { orgId, rowId: row?.id ?? null, seq: row ? Number(row.seq) : null, reason },
  ];
  const [head] = await db.query<{ seq: string; hash: Uint8Array }>(
    'SELECT seq::text AS seq, hash FROM audit_chain_heads WHERE organization_id = $1::uuid',
    [orgId],
  );
  if (!head) return bad(null, 'the chain head is missing');
  for (;;) {
    const after = last ? last.seq : '0';
    const batch: Row[] = await db.query<Row>(ROW_SQL, [orgId, after, head.seq]);
    for (const row of batch) {
      const expected = count + 1;
      if (Number(row.seq) !== expected) {
        return bad(row, `sequence ${row.seq} where ${expected} was expected: rows are missing`);
      }
      if (!Buffer.from(row.prev_hash).equals(prev)) {
        return bad(row, 'prev_hash does not match the previous row');
      }
      const hash = rowHash(prev, row);
      if (!Buffer.from(row.hash).equals(hash)) {
        return bad(row, 'hash does not match the row: it was changed after it was written');
      }
      prev = hash;
      last = row;
      count++;
    }
    if (batch.length < BATCH) break;
  }
  if (String(count) !== head.seq || !Buffer.from(head.hash).equals(prev)) {
    const reason = `the chain ends at ${count} but its head is ${head.seq}: rows at the end are missing or changed`;
    return bad(last, reason);
  }
  return [count, null];
}

/** Recomputes every organization's chain; stops at the first break. */
export async function verifyChains(db: OwnerQuery): Promise<VerifyResult> {
  const orgs = await db.query<{ org: string }>(`
    SELECT organization_id::text AS org FROM audit_chain_heads
    UNION SELECT DISTINCT organization_id::text FROM audit_logs ORDER BY 1`);
  let rows = 0;
  for (const { org } of orgs) {
    const [count, broken] = await verifyOrg(db, org);
    rows += count;
    if (broken) return { organizations: orgs.length, rows, broken };
  }
  return { organizations: orgs.length, rows, broken: null };
}
