import { sql } from 'drizzle-orm';
import { rows, type Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { toMessageOut } from '../../modules/conversations/mappers.js';
import type { MessageOut } from '../../modules/conversations/schema.js';
import type { Inbound } from './ingest.js';
import { mediaOf } from './payload.js';

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
