import { and, eq, inArray, lt, lte, or, sql } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import { rows, type Database, type Tx } from '../db/client.js';
import { customers } from '../db/schema.js';
import { channels, conversations, messages } from '../db/schema/whatsapp.js';
import { messageColumns, toMessageOut } from '../modules/conversations/mappers.js';
import type { MessageOut } from '../modules/conversations/schema.js';
import type { GraphError } from './graph.js';

/**
 * The send worker's view of the messages table, each query inside its organization.
 * Every transition names the status it expects, so two workers (or a worker and a
 * webhook) racing on one message cannot move it backwards.
 */
const LOCK = sql`now() + interval '30 seconds'`;

const due = () =>
  or(
    and(eq(messages.status, 'queued'), lte(messages.nextAttemptAt, sql`now()`)),
    and(eq(messages.status, 'sending'), lt(messages.lockedUntil, sql`now()`)),
  );

const mine = (orgId: string, id: string) =>
  and(eq(messages.organizationId, orgId), eq(messages.id, id), eq(messages.direction, 'outbound'));

export interface SendTarget {
  body: string;
  phoneNumberId: string | null;
  /** Still encrypted; null once the channel is deleted. */
  accessToken: string | null;
  channelDeleted: boolean;
  to: string;
}

/** A due message with what sending it needs, before claiming it. */
export async function loadDue(tx: Tx, orgId: string, id: string): Promise<SendTarget | null> {
  const [row] = await tx
    .select({
      body: messages.body,
      phoneNumberId: channels.phoneNumberId,
      accessToken: channels.accessToken,
      deletedAt: channels.deletedAt,
      to: sql<string>`coalesce(${messages.recipient}, ${customers.phone})`,
    })
    .from(messages)
    .innerJoin(
      channels,
      and(
        eq(channels.organizationId, messages.organizationId),
        eq(channels.id, messages.channelId),
      ),
    )
    .innerJoin(
      conversations,
      and(
        eq(conversations.organizationId, messages.organizationId),
        eq(conversations.id, messages.conversationId),
      ),
    )
    .innerJoin(
      customers,
      and(
        eq(customers.organizationId, messages.organizationId),
        eq(customers.id, conversations.customerId),
      ),
    )
    .where(and(mine(orgId, id), due()));
  if (!row) return null;
  const { deletedAt, body, ...rest } = row;
  return { ...rest, body: body ?? '', channelDeleted: deletedAt !== null };
}

/** Takes the message for one attempt; null when another worker was first. */
export async function claim(
  tx: Tx,
  orgId: string,
  id: string,
): Promise<{ message: MessageOut; attempts: number } | null> {
  const [row] = await tx
    .update(messages)
    .set({
      status: 'sending',
      lockedUntil: LOCK,
      attempts: sql`${messages.attempts} + 1`,
      updatedAt: sql`now()`,
    })
    .where(and(mine(orgId, id), due()))
    .returning({ ...messageColumns, attempts: messages.attempts });
  if (!row) return null;
  const { attempts, ...message } = row;
  return { message: toMessageOut(message), attempts };
}

/**
 * Meta accepted it. A delivered/read status from a webhook may have raced ahead of this
 * write: it keeps its status and only gains the wamid and sent_at.
 */
export async function markSent(db: Database, orgId: string, id: string, wamid: string | null) {
  return settle(db, orgId, id, ['sending', 'queued', 'failed', 'delivered', 'read'], {
    status: sql`case when ${messages.status} in ('delivered', 'read') then ${messages.status} else 'sent' end`,
    waMessageId: sql`coalesce(${messages.waMessageId}, ${wamid})`,
    sentAt: sql`coalesce(${messages.sentAt}, now())`,
    error: null,
    nextAttemptAt: null,
  });
}

export async function markRetry(
  db: Database,
  orgId: string,
  id: string,
  delayMs: number,
  error: GraphError,
) {
  return settle(db, orgId, id, ['sending'], {
    status: 'queued',
    error,
    nextAttemptAt: sql`now() + ${`${Math.round(delayMs)} milliseconds`}::interval`,
  });
}

export async function markFailed(db: Database, orgId: string, id: string, error: GraphError) {
  return settle(db, orgId, id, ['sending'], { status: 'failed', error, nextAttemptAt: null });
}

type Status = (typeof messages.status.enumValues)[number];

async function settle(
  db: Database,
  orgId: string,
  id: string,
  from: Status[],
  set: PgUpdateSetSource<typeof messages>,
): Promise<MessageOut | null> {
  const [row] = await db.withOrgStatement(orgId, (tx) =>
    tx
      .update(messages)
      .set({ ...set, lockedUntil: null, updatedAt: sql`now()` })
      .where(and(mine(orgId, id), inArray(messages.status, from)))
      .returning(messageColumns),
  );
  return row ? toMessageOut(row) : null;
}

/** Due messages of every organization (SECURITY DEFINER: ids only), for the sweeper. */
export async function dueMessages(db: Database, limit: number) {
  return db.withoutOrg((tx) =>
    rows<{ id: string; organization_id: string }>(
      tx,
      sql`select id, organization_id from due_outbound_messages(${limit})`,
    ),
  );
}

/** Moves a queued message's next attempt later, leaving it queued. */
export async function postpone(tx: Tx, orgId: string, id: string, delayMs: number) {
  await tx
    .update(messages)
    .set({ nextAttemptAt: sql`now() + ${`${Math.round(delayMs)} milliseconds`}::interval` })
    .where(
      and(eq(messages.organizationId, orgId), eq(messages.id, id), eq(messages.status, 'queued')),
    );
}
