import { and, eq, sql } from 'drizzle-orm';
import { rows, type Database, type Tx } from '../../db/client.js';
import { messages, type MessageStatus } from '../../db/schema/whatsapp.js';
import { messageColumns, toMessageOut } from '../../modules/conversations/mappers.js';
import type { MessageOut } from '../../modules/conversations/schema.js';
import type { IngestTarget } from './ingest.js';
import type { StatusUpdate } from './payload.js';

/** Applies status updates to this channel's outbound messages, one statement each. */
export async function applyStatuses(tx: Tx, target: IngestTarget, statuses: StatusUpdate[]) {
  const updated = [];
  for (const s of statuses) {
    const row = await applyStatus(tx, target, s);
    if (row) updated.push(row);
  }
  return updated;
}

async function applyStatus(
  tx: Tx,
  { orgId, channelId }: IngestTarget,
  s: StatusUpdate,
): Promise<MessageOut | undefined> {
  const error = s.status === 'failed' && s.errors?.[0] ? pickError(s.errors[0]) : null;
  const errorJson = error === null ? null : JSON.stringify(error);
  const [row] = await tx
    .update(messages)
    .set({
      status: s.status as MessageStatus,
      updatedAt: new Date(),
      error: sql`coalesce(${errorJson}::text::jsonb, ${messages.error})`,
    })
    .where(
      and(
        eq(messages.organizationId, orgId),
        eq(messages.channelId, channelId),
        eq(messages.waMessageId, s.id),
        eq(messages.direction, 'outbound'),
        sql`message_status_rank(${messages.status}) < message_status_rank(${s.status})`,
      ),
    )
    .returning(messageColumns);
  if (row) return toMessageOut(row);
  // No message moved: either the status is stale, or its message does not have this id yet
  // (the send worker stores it after the Graph API answers). Keep the latter for later.
  await tx.execute(sql`
    insert into early_statuses (organization_id, channel_id, wa_message_id, status, error)
    select ${orgId}::uuid, ${channelId}::uuid, ${s.id}, ${s.status}, ${errorJson}::text::jsonb
    where not exists (select 1 from messages where organization_id = ${orgId}::uuid
                      and channel_id = ${channelId}::uuid and wa_message_id = ${s.id})
    on conflict do nothing`);
  return undefined;
}

const pickError = (e: NonNullable<StatusUpdate['errors']>[number]) => ({
  ...(e.code === undefined ? {} : { code: e.code }),
  ...(e.title === undefined ? {} : { title: e.title }),
  ...(e.message === undefined ? {} : { message: e.message }),
});

/**
 * Applies early statuses whose message now has its WhatsApp id (across organizations,
 * through the SECURITY DEFINER function), and returns the moved messages by organization.
 */
export async function applyEarlyStatuses(db: Database): Promise<Map<string, MessageOut[]>> {
  const moved = await db.withoutOrg((tx) =>
    rows<{ organization_id: string; message_id: string }>(
      tx,
      sql`select * from apply_early_statuses()`,
    ),
  );
  const byOrg = new Map<string, string[]>();
  for (const m of moved)
    byOrg.set(m.organization_id, [...(byOrg.get(m.organization_id) ?? []), m.message_id]);
  const out = new Map<string, MessageOut[]>();
  for (const [orgId, ids] of byOrg) {
    const found = await db.withOrgRead(orgId, (tx) =>
      tx
        .select(messageColumns)
        .from(messages)
        .where(
          and(
            eq(messages.organizationId, orgId),
            sql`${messages.id} = any(${`{${ids.join(',')}}`}::uuid[])`,
          ),
        ),
    );
    out.set(orgId, found.map(toMessageOut));
  }
  return out;
}
