import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/client.js';
import { isUuid, uuidv7 } from '../db/ids.js';
import {
  channels,
  webhookDeliveries,
  type ChannelType,
  type DeliveryOutcome,
} from '../db/schema/whatsapp.js';

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
}

/**
 * Writes one row of the webhook log as a single statement in the channel's organization.
 * For a signed delivery this is the durable store: it has committed when this resolves,
 * and only then may the sender get its 200.
 */
export async function recordDelivery(db: Database, r: DeliveryRecord): Promise<string> {
  const id = uuidv7();
  await db.withOrgStatement(r.orgId, (tx) =>
    tx.insert(webhookDeliveries).values({
      id,
      organizationId: r.orgId,
      channelId: r.channelId,
      source: r.source,
      outcome: r.outcome,
      statusCode: r.statusCode,
      sizeBytes: r.sizeBytes,
      body: r.outcome === 'pending' ? (r.body ?? null) : null,
      topic: r.topic?.slice(0, 100) ?? null,
      detail: r.detail?.slice(0, 500) ?? null,
      requestId: r.requestId,
    }),
  );
  return id;
}

export interface ClaimedDelivery {
  id: string;
  body: Buffer;
  channelId: string;
}

/** Body bytes claimed per transaction (one delivery may be 3 MiB). */
const CLAIM_BYTES = 16 * 1024 * 1024;

const uuidArray = (ids: string[]) => sql`${`{${ids.filter(isUuid).join(',')}}`}::uuid[]`;

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

/** Marks a delivery done and drops its body: the messages it produced are the record now. */
export async function finishDelivery(
  tx: Tx,
  orgId: string,
  id: string,
  outcome: Exclude<DeliveryOutcome, 'pending'>,
  detail: string | null = null,
): Promise<void> {
  await tx
    .update(webhookDeliveries)
    .set({
      outcome,
      detail: detail?.slice(0, 500) ?? null,
      // A failed delivery keeps its body, for an operator to inspect and replay.
      ...(outcome === 'failed' ? {} : { body: null }),
      processedAt: new Date(),
    })
    .where(
      and(
        eq(webhookDeliveries.organizationId, orgId),
        eq(webhookDeliveries.id, id),
        // Another instance may have processed it meanwhile: never overwrite that.
        eq(webhookDeliveries.outcome, 'pending'),
      ),
    );
}

/** finishDelivery for many at once, in one statement. */
export async function finishDeliveries(
  tx: Tx,
  orgId: string,
  done: { id: string; outcome: 'processed' | 'dropped'; detail: string | null }[],
): Promise<void> {
  if (done.length === 0) return;
  const json = JSON.stringify(done.map((d) => ({ ...d, detail: d.detail?.slice(0, 500) ?? null })));
  await tx.execute(sql`
    update webhook_deliveries d
    set outcome = r.outcome, detail = r.detail, body = null, processed_at = now()
    from jsonb_to_recordset(${json}::text::jsonb) as r(id uuid, outcome text, detail text)
    where d.organization_id = ${orgId}::uuid and d.id = r.id`);
}

/** The phone number ids of the organization's live WhatsApp channels among `ids`. */
export async function phoneNumbers(
  tx: Tx,
  orgId: string,
  ids: string[],
): Promise<Map<string, string>> {
  const found = await tx
    .select({ id: channels.id, phoneNumberId: channels.phoneNumberId })
    .from(channels)
    .where(
      and(
        eq(channels.organizationId, orgId),
        sql`${channels.id} = any(${uuidArray(ids)})`,
        eq(channels.type, 'whatsapp'),
        isNull(channels.deletedAt),
      ),
    );
  return new Map(found.flatMap((c) => (c.phoneNumberId ? [[c.id, c.phoneNumberId]] : [])));
}
