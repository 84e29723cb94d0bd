import { and, eq, sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/client.js';
import { isUuid, uuidv7 } from '../db/ids.js';
import {
  webhookDeliveries,
  type ChannelType,
  type DeliveryOutcome,
} from '../db/schema/whatsapp.js';
import { clip } from './provider-text.js';

export interface DeliveryRecord {
  orgId: string;
  channelId: string;
  source: ChannelType;
  outcome: DeliveryOutcome;
  statusCode: number;
  sizeBytes: number;
  /** Kept only for 'pending' deliveries, until they are processed. */
  body?: Buffer | null;
  topic?: string | null;
  detail?: string | null;
  requestId: string;
  /** Done with when written (its effect is in the same transaction). */
  processed?: boolean;
}

/** A log row with its id, ready to insert. */
export type DeliveryRow = DeliveryRecord & { id: string };

/**
 * The one INSERT into the webhook log, whatever the number of rows (one prepared plan):
 * the rows travel as JSON. Bodies are kept only while pending.
 */
export function insertDeliveries(tx: Tx, orgId: string, batch: DeliveryRow[]) {
  const json = JSON.stringify(
    batch.map((r) => ({
      id: r.id,
      channel_id: r.channelId,
      source: r.source,
      outcome: r.outcome,
      status_code: r.statusCode,
      size_bytes: r.sizeBytes,
      topic: r.topic ? clip(r.topic, 100) : null,
      body: r.outcome === 'pending' && r.body ? r.body.toString('base64') : null,
      detail: r.detail ? clip(r.detail, 500) : null,
      request_id: r.requestId,
      processed: r.processed ?? false,
    })),
  );
  return tx.execute(sql`
    insert into webhook_deliveries (id, organization_id, channel_id, source, outcome,
      status_code, size_bytes, topic, body, detail, request_id, processed_at)
    select r.id, ${orgId}::uuid, r.channel_id, r.source, r.outcome, r.status_code,
      r.size_bytes, r.topic, decode(r.body, 'base64'), r.detail, r.request_id,
      case when r.processed then now() end
    from jsonb_to_recordset(${json}::text::jsonb) as r(id uuid, channel_id uuid,
      source text, outcome text, status_code int, size_bytes int, topic text, body text,
      detail text, request_id text, processed boolean)`);
}

/**
 * One row of the webhook log as a single statement in the channel's organization. For a
 * signed delivery this is the durable store: it has committed when this resolves, and only
 * then may the sender get its 200.
 */
export async function recordDelivery(db: Database, r: DeliveryRecord): Promise<string> {
  const id = uuidv7();
  await db.withOrgStatement(r.orgId, (tx) => insertDeliveries(tx, r.orgId, [{ ...r, id }]));
  return id;
}

/** The log row of a delivery's effect, in the effect's transaction: both or neither. */
export async function recordDeliveryIn(tx: Tx, r: DeliveryRecord): Promise<void> {
  await insertDeliveries(tx, r.orgId, [{ ...r, id: uuidv7(), processed: true }]);
}

export interface ClaimedDelivery {
  id: string;
  body: Buffer;
  channelId: string;
}

/** Body bytes claimed per transaction (one delivery may be 3 MiB). */
const CLAIM_BYTES = 16 * 1024 * 1024;

export const uuidArray = (ids: string[]) => sql`${`{${ids.filter(isUuid).join(',')}}`}::uuid[]`;

/**
 * Claims pending deliveries inside the caller's transaction (row locks, skipping rows
 * another transaction holds): of two instances recovering the same delivery, one processes
 * it and the other finds nothing. At most CLAIM_BYTES of bodies (at least one delivery);
 * `deferred` are the pending ones left for a later batch.
 */
export async function claimDeliveries(
  tx: Tx,
  orgId: string,
  ids: string[],
): Promise<{ claimed: ClaimedDelivery[]; deferred: string[] }> {
  // By primary key: the pending backlog can be long, and must not be scanned per batch.
  const pending = and(
    eq(webhookDeliveries.organizationId, orgId),
    sql`${webhookDeliveries.id} = any(${uuidArray(ids)})`,
    eq(webhookDeliveries.outcome, 'pending'),
  );
  const sizes = await tx
    .select({ id: webhookDeliveries.id, size: webhookDeliveries.sizeBytes })
    .from(webhookDeliveries)
    .where(pending)
    .orderBy(webhookDeliveries.id);
  let take = 0;
  for (let bytes = 0; take < sizes.length; take++) {
    bytes += sizes[take]!.size;
    if (take > 0 && bytes > CLAIM_BYTES) break;
  }
  const chosen = sizes.slice(0, take).map((r) => r.id);
  const rows = await tx
    .select({
      id: webhookDeliveries.id,
      body: webhookDeliveries.body,
      channelId: webhookDeliveries.channelId,
    })
    .from(webhookDeliveries)
    .where(and(pending, sql`${webhookDeliveries.id} = any(${uuidArray(chosen)})`))
    .orderBy(webhookDeliveries.id)
    .for('update', { skipLocked: true });
  // PGlite hands bytea back as a plain Uint8Array, postgres.js as a Buffer.
  const claimed = rows.flatMap((r) =>
    r.body ? [{ id: r.id, body: Buffer.from(r.body), channelId: r.channelId }] : [],
  );
  return { claimed, deferred: sizes.slice(take).map((r) => r.id) };
}

/** How one delivery of a batch ended. */
export interface Finished {
  id: string;
  outcome: 'processed' | 'dropped' | 'failed';
  detail: string | null;
  /**
   * It failed, or some of its items were set aside: its body stays, for an operator to
   * inspect and replay. Otherwise the body goes: the messages it produced are the record.
   */
  keepBody?: boolean;
}

/** Marks deliveries done, in one statement. */
export async function finishDeliveries(tx: Tx, orgId: string, done: Finished[]): Promise<void> {
  if (done.length === 0) return;
  const json = JSON.stringify(
    done.map((d) => ({
      id: d.id,
      outcome: d.outcome,
      detail: d.detail ? clip(d.detail, 500) : null,
      keep_body: d.keepBody ?? false,
    })),
  );
  await tx.execute(sql`
    update webhook_deliveries d
    set outcome = r.outcome, detail = r.detail, processed_at = now(),
      body = case when r.keep_body then d.body end
    from jsonb_to_recordset(${json}::text::jsonb) as r(id uuid, outcome text, detail text,
      keep_body boolean)
    where d.organization_id = ${orgId}::uuid and d.id = r.id
      -- Another instance may have processed it meanwhile: never overwrite that.
      and d.outcome = 'pending'`);
}
