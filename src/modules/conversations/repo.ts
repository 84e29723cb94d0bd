import { and, desc, eq, lt, ne, sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { customers } from '../../db/schema.js';
import { channels, conversations, messages } from '../../db/schema/whatsapp.js';
import { conversationColumns, messageColumns, toConversationOut, toMessageOut } from './mappers.js';
import type { ConversationListQuery, ConversationOut, MessageOut } from './schema.js';

/**
 * Conversation and message queries, each inside withOrg: the organization_id conditions
 * are the first guard, row-level security the last. Ids from the body (customer, channel)
 * are only ever looked up within the caller's organization.
 */
const inOrg = (orgId: string, id: string) =>
  and(eq(conversations.organizationId, orgId), eq(conversations.id, id));

export async function list(
  tx: Tx,
  orgId: string,
  q: ConversationListQuery,
): Promise<ConversationOut[]> {
  const where: (SQL | undefined)[] = [eq(conversations.organizationId, orgId)];
  if (q.cursor) where.push(lt(conversations.id, q.cursor));
  if (q.status) where.push(eq(conversations.status, q.status));
  if (q.customerId) where.push(eq(conversations.customerId, q.customerId));
  const rows = await tx
    .select(conversationColumns)
    .from(conversations)
    .where(and(...where))
    .orderBy(desc(conversations.id))
    .limit(q.limit + 1);
  return rows.map(toConversationOut);
}

export async function get(tx: Tx, orgId: string, id: string): Promise<ConversationOut | undefined> {
  const [row] = await tx.select(conversationColumns).from(conversations).where(inOrg(orgId, id));
  return row && toConversationOut(row);
}

/** Whether the customer, and a live WhatsApp channel, exist in this organization. */
export async function canConverse(tx: Tx, orgId: string, customerId: string, channelId: string) {
  const [customer] = await tx
    .select({ id: customers.id })
    .from(customers)
    .where(and(eq(customers.organizationId, orgId), eq(customers.id, customerId)));
  const [channel] = await tx
    .select({ type: channels.type, deletedAt: channels.deletedAt })
    .from(channels)
    .where(and(eq(channels.organizationId, orgId), eq(channels.id, channelId)));
  return {
    customer: !!customer,
    channel: !!channel && channel.type === 'whatsapp' && !channel.deletedAt,
  };
}

/** The conversation of a customer on a channel, made if missing (concurrent calls agree). */
export async function findOrCreate(
  tx: Tx,
  orgId: string,
  customerId: string,
  channelId: string,
): Promise<{ conversation: ConversationOut; created: boolean }> {
  const [made] = await tx
    .insert(conversations)
    .values({ id: uuidv7(), organizationId: orgId, customerId, channelId })
    .onConflictDoNothing()
    .returning(conversationColumns);
  if (made) return { conversation: toConversationOut(made), created: true };
  const [found] = await tx
    .select(conversationColumns)
    .from(conversations)
    .where(
      and(
        eq(conversations.organizationId, orgId),
        eq(conversations.customerId, customerId),
        eq(conversations.channelId, channelId),
      ),
    );
  return { conversation: toConversationOut(found!), created: false };
}

/** Sets the status; `changed` is false when it already had it (nothing to audit). */
export async function setStatus(tx: Tx, orgId: string, id: string, status: 'open' | 'closed') {
  const [row] = await tx
    .update(conversations)
    .set({ status, updatedAt: sql`now()` })
    .where(and(inOrg(orgId, id), ne(conversations.status, status)))
    .returning(conversationColumns);
  if (row) return { conversation: toConversationOut(row), changed: true };
  const current = await get(tx, orgId, id);
  return current ? { conversation: current, changed: false } : null;
}

export async function listMessages(
  tx: Tx,
  orgId: string,
  conversationId: string,
  q: { limit: number; cursor?: string | undefined },
): Promise<MessageOut[]> {
  const where: (SQL | undefined)[] = [
    eq(messages.organizationId, orgId),
    eq(messages.conversationId, conversationId),
  ];
  if (q.cursor) where.push(lt(messages.id, q.cursor));
  const rows = await tx
    .select(messageColumns)
    .from(messages)
    .where(and(...where))
    .orderBy(desc(messages.id))
    .limit(q.limit + 1);
  return rows.map(toMessageOut);
}

/** The conversation's channel state, to refuse sending on a deleted channel. */
export async function sendableChannel(tx: Tx, orgId: string, conversationId: string) {
  const [row] = await tx
    .select({ channelId: channels.id, deletedAt: channels.deletedAt })
    .from(conversations)
    .innerJoin(
      channels,
      and(
        eq(channels.organizationId, conversations.organizationId),
        eq(channels.id, conversations.channelId),
      ),
    )
    .where(inOrg(orgId, conversationId));
  return row ? { channelId: row.channelId, deleted: row.deletedAt !== null } : null;
}

/** A queued outbound text, due at once: the send queue's durable record. */
export async function queueText(
  tx: Tx,
  orgId: string,
  conversationId: string,
  channelId: string,
  sentBy: string | null,
  body: string,
): Promise<MessageOut> {
  const [row] = await tx
    .insert(messages)
    .values({
      id: uuidv7(),
      organizationId: orgId,
      conversationId,
      channelId,
      direction: 'outbound',
      type: 'text',
      body,
      status: 'queued',
      nextAttemptAt: sql`now()`,
      sentBy,
      // Addressed now: editing the customer's phone later must not redirect this message.
      recipient: sql`(select ${customers.phone} from ${customers} join ${conversations}
        on ${conversations.organizationId} = ${customers.organizationId}
        and ${conversations.customerId} = ${customers.id}
        where ${conversations.organizationId} = ${orgId} and ${conversations.id} = ${conversationId})`,
    })
    .returning(messageColumns);
  await tx
    .update(conversations)
    .set({ lastMessageAt: sql`now()`, updatedAt: sql`now()` })
    .where(inOrg(orgId, conversationId));
  return toMessageOut(row!);
}
