import { and, eq, sql } from 'drizzle-orm';
import secureJson from 'secure-json-parse';
import { rows, type Database, type Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { messageColumns, toMessageOut } from '../../modules/conversations/mappers.js';
import { messages, type MessageStatus } from '../../db/schema/whatsapp.js';
import type { MessageOut } from '../../modules/conversations/schema.js';
import type { z } from 'zod';
import {
  contact,
  inboundMessage,
  mediaOf,
  statusUpdate,
  valuesFor,
  whatsappPayload,
  type Contact,
  type InboundMessage,
  type StatusUpdate,
} from './payload.js';

/** Where one stored delivery came from. */
export interface IngestTarget {
  orgId: string;
  channelId: string;
  phoneNumberId: string;
}

interface Inbound {
  channelId: string;
  name: string | null;
  message: InboundMessage;
}

/** What one delivery asks for, before any of it is written. */
export interface ParsedDelivery {
  outcome: 'processed' | 'dropped';
  detail: string | null;
  inbound: Inbound[];
  statuses: StatusUpdate[];
}

/** Meta's statuses; they only move forward (message_status_rank in the migration). */
const META_STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);

export function parseJson(body: Buffer): unknown {
  return secureJson.parse(body.toString('utf8'), undefined, {
    protoAction: 'error',
    constructorAction: 'error',
  });
}

const dropped = (detail: string): ParsedDelivery => ({
  outcome: 'dropped',
  detail,
  inbound: [],
  statuses: [],
});

/** Reads one stored delivery; only changes addressed to the channel's own number count. */
export function parseDelivery(target: IngestTarget, body: Buffer): ParsedDelivery {
  let payload;
  try {
    payload = whatsappPayload.safeParse(parseJson(body));
  } catch {
    return dropped('not JSON');
  }
  if (!payload.success) return dropped('not a WhatsApp payload');
  const values = valuesFor(payload.data, target.phoneNumberId);
  if (values.length === 0) return dropped("no change for this channel's phone number");
  let skipped = 0;
  const each = <T>(items: unknown[] | undefined, schema: z.ZodType<T>): T[] =>
    (items ?? []).flatMap((item) => {
      const parsed = schema.safeParse(item);
      if (!parsed.success) skipped++;
      return parsed.success ? [parsed.data] : [];
    });
  const inbound = values.flatMap((v) => {
    const contacts = each(v.contacts, contact);
    return each(v.messages, inboundMessage).map((message) => ({
      channelId: target.channelId,
      name: contactName(contacts, message.from),
      message,
    }));
  });
  const statuses = values
    .flatMap((v) => each(v.statuses, statusUpdate))
    .filter((s) => META_STATUSES.has(s.status));
  return {
    outcome: 'processed',
    detail: skipped > 0 ? `${skipped} item(s) not understood and skipped` : null,
    inbound,
    statuses,
  };
}

function contactName(contacts: Contact[], waId: string): string | null {
  const name = contacts.find((c) => c.wa_id === waId)?.profile?.name?.trim();
  // Names reach every agent's screen and logs: drop control characters, bound the length.
  return name ? name.replace(/\p{Cc}/gu, '').slice(0, 200) || null : null;
}

const json = (v: unknown) => sql`${JSON.stringify(v)}::text::jsonb`;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/**
 * Rows in a fixed order by key: two instances upserting the same customers or
 * conversations then lock them in the same order, and cannot deadlock each other.
 */
const sorted = <T>(m: Map<string, T>, key: (v: T) => string) =>
  [...m.values()].sort((a, b) => cmp(key(a), key(b)));

/**
 * Writes the inbound messages of many deliveries of one organization in three statements:
 * customers found or created by wa_id, their conversations on each channel found or
 * created (and reopened), and the messages, each stored once per WhatsApp message id.
 * Returns the messages actually created (a redelivered one is not).
 */
export async function storeInbound(tx: Tx, orgId: string, items: Inbound[]): Promise<MessageOut[]> {
  if (items.length === 0) return [];
  const phones = new Map<string, { id: string; phone: string; name: string }>();
  for (const { message, name } of items) {
    const phone = `+${message.from}`;
    if (!phones.has(phone)) phones.set(phone, { id: uuidv7(), phone, name: name ?? phone });
  }
  const customers = await rows<{ id: string; phone: string }>(
    tx,
    sql`insert into customers (id, organization_id, name, phone)
        select r.id, ${orgId}::uuid, r.name, r.phone
        from jsonb_to_recordset(${json(sorted(phones, (c) => c.phone))}) as r(id uuid, name text, phone text)
        on conflict (organization_id, phone) do update set phone = excluded.phone
        returning id, phone`,
  );
  const customerOf = new Map(customers.map((c) => [c.phone, c.id]));
  const pairs = new Map<string, { id: string; customer_id: string; channel_id: string }>();
  for (const { message, channelId } of items) {
    const customer = customerOf.get(`+${message.from}`)!;
    const key = `${customer}|${channelId}`;
    if (!pairs.has(key))
      pairs.set(key, { id: uuidv7(), customer_id: customer, channel_id: channelId });
  }
  const conversations = await rows<{ id: string; customer_id: string; channel_id: string }>(
    tx,
    sql`insert into conversations (id, organization_id, customer_id, channel_id, last_message_at)
        select r.id, ${orgId}::uuid, r.customer_id, r.channel_id, now()
        from jsonb_to_recordset(${json(sorted(pairs, (p) => `${p.customer_id}|${p.channel_id}`))}) as r(id uuid, customer_id uuid, channel_id uuid)
        on conflict (organization_id, customer_id, channel_id) do update
          set last_message_at = now(), updated_at = now(), status = 'open'
        returning id, customer_id, channel_id`,
  );
  const conversationOf = new Map(
    conversations.map((c) => [`${c.customer_id}|${c.channel_id}`, c.id]),
  );
  const seen = new Set<string>();
  const fresh = items.flatMap(({ message: m, channelId }) => {
    // The same message twice in one batch: the first copy is the one kept.
    if (seen.has(`${channelId}|${m.id}`)) return [];
    seen.add(`${channelId}|${m.id}`);
    const media = mediaOf(m);
    const customer = customerOf.get(`+${m.from}`)!;
    return [
      {
        id: uuidv7(),
        conversation_id: conversationOf.get(`${customer}|${channelId}`)!,
        channel_id: channelId,
        type: m.type,
        body: m.type === 'text' ? (m.text?.body ?? null) : null,
        media_id: media?.id ?? null,
        media_mime_type: media?.mime_type ?? null,
        caption: media?.caption ?? null,
        wa_message_id: m.id,
      },
    ];
  });
  const created = await rows<StoredRow>(
    tx,
    sql`insert into messages (id, organization_id, conversation_id, channel_id, direction, type,
          body, media_id, media_mime_type, caption, wa_message_id, status)
        select r.id, ${orgId}::uuid, r.conversation_id, r.channel_id, 'inbound', r.type, r.body,
          r.media_id, r.media_mime_type, r.caption, r.wa_message_id, 'received'
        from jsonb_to_recordset(${json(fresh.sort((a, b) => cmp(a.wa_message_id, b.wa_message_id)))}) as r(id uuid, conversation_id uuid,
          channel_id uuid, type text, body text, media_id text, media_mime_type text,
          caption text, wa_message_id text)
        on conflict (organization_id, channel_id, wa_message_id) do nothing
        returning id, conversation_id, channel_id, type, body, media_id, media_mime_type,
          caption, wa_message_id, to_json(created_at) #>> '{}' as created_at`,
  );
  return created.map((r) =>
    toMessageOut({
      id: r.id,
      conversationId: r.conversation_id,
      channelId: r.channel_id,
      direction: 'inbound',
      type: r.type,
      body: r.body,
      mediaId: r.media_id,
      mediaMimeType: r.media_mime_type,
      caption: r.caption,
      status: 'received',
      error: null,
      waMessageId: r.wa_message_id,
      sentBy: null,
      createdAt: new Date(r.created_at),
      updatedAt: new Date(r.created_at),
    }),
  );
}

interface StoredRow {
  id: string;
  conversation_id: string;
  channel_id: string;
  type: string;
  body: string | null;
  media_id: string | null;
  media_mime_type: string | null;
  caption: string | null;
  wa_message_id: string;
  created_at: string;
}

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
