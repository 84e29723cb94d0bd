import type { FastifyBaseLogger } from 'fastify';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../db/client.js';
import { isPermanentFailure, pgError } from '../../db/errors.js';
import { channels } from '../../db/schema/whatsapp.js';
import type { RealtimeEvent } from '../../realtime/events.js';
import { claimDeliveries, finishDeliveries, uuidArray, type Finished } from '../deliveries.js';
import { parseDelivery, type Inbound, type IngestTarget } from './ingest.js';
import type { StatusUpdate } from './payload.js';
import { applyStatuses } from './statuses.js';
import { storeInbound } from './store.js';

/** A write of some of a batch's items: all of them, or one alone when isolating. */
interface Step {
  item: string;
  run(tx: Tx): Promise<RealtimeEvent[]>;
}

function steps(orgId: string, inbound: Inbound[], statuses: Statuses[], isolate: boolean): Step[] {
  const messages = isolate ? inbound.map((i) => [i]) : [inbound];
  const updates = statuses.flatMap((u) =>
    isolate ? u.statuses.map((s) => ({ target: u.target, statuses: [s] })) : [u],
  );
  return [
    ...messages.map((items) => ({
      item: `message ${items.map((i) => i.message.id).join(', ')}`,
      run: async (tx: Tx) =>
        (await storeInbound(tx, orgId, items)).map((data) => ({
          type: 'message.created' as const,
          data,
        })),
    })),
    // Statuses after the messages they may follow in the same batch.
    ...updates.map((u) => ({
      item: `status of ${u.statuses.map((s) => s.id).join(', ')}`,
      run: async (tx: Tx) =>
        (await applyStatuses(tx, u.target, u.statuses)).map((data) => ({
          type: 'message.status' as const,
          data,
        })),
    })),
  ];
}

interface Statuses {
  target: IngestTarget;
  statuses: StatusUpdate[];
}

/**
 * `work` undone alone if it fails, by a savepoint of the caller's transaction (drizzle's
 * nested transaction() needs a driver client, which the PostgreSQL connection lending
 * does not give it).
 */
async function inSavepoint<T>(tx: Tx, work: () => Promise<T>): Promise<T> {
  await tx.execute(sql`savepoint webhook_item`);
  try {
    const result = await work();
    await tx.execute(sql`release savepoint webhook_item`);
    return result;
  } catch (err) {
    // If this fails too, the transaction is broken and its next statement says so.
    await tx.execute(sql`rollback to savepoint webhook_item`).catch(() => undefined);
    throw err;
  }
}

/** The database's own reason (SQLSTATE and message), never the statement or its values. */
function reasonOf(err: unknown): string {
  const pg = pgError(err);
  return pg?.code
    ? `SQLSTATE ${pg.code}: ${(pg.message ?? '').slice(0, 120)}`
    : 'see the server log';
}

/**
 * Turns claimed deliveries of one organization into messages and statuses, set-based, in
 * one transaction. With `isolate` (a delivery that failed on its own), each message and
 * status is written in its own savepoint: an item the database refuses is set aside with
 * its reason in the delivery's log row, and the good items beside it are stored.
 */
export async function processDeliveries(
  db: Database,
  log: FastifyBaseLogger,
  orgId: string,
  ids: string[],
  isolate = false,
): Promise<{ events: RealtimeEvent[]; deferred: string[] }> {
  return db.withOrg(orgId, async (tx) => {
    const { claimed, deferred } = await claimDeliveries(tx, orgId, ids);
    // In this transaction, not through the channel cache: on PGlite's single connection a
    // second transaction would wait for this one forever.
    const numbers = await phoneNumbers(tx, orgId, [...new Set(claimed.map((d) => d.channelId))]);
    const done: Finished[] = [];
    const inbound: Inbound[] = [];
    const statuses: Statuses[] = [];
    for (const delivery of claimed) {
      const phoneNumberId = numbers.get(delivery.channelId);
      if (!phoneNumberId) {
        done.push({ id: delivery.id, outcome: 'dropped', detail: 'channel deleted' });
        continue;
      }
      const target = { orgId, channelId: delivery.channelId, phoneNumberId };
      const parsed = parseDelivery(target, delivery.body);
      done.push({ id: delivery.id, outcome: parsed.outcome, detail: parsed.detail });
      inbound.push(...parsed.inbound);
      statuses.push({ target, statuses: parsed.statuses });
    }
    const events: RealtimeEvent[] = [];
    const setAside: string[] = [];
    for (const step of steps(orgId, inbound, statuses, isolate)) {
      if (!isolate) {
        events.push(...(await step.run(tx)));
        continue;
      }
      try {
        events.push(...(await inSavepoint(tx, () => step.run(tx))));
      } catch (err) {
        // An outage is not the item's fault: the whole delivery is retried later.
        if (!isPermanentFailure(err)) throw err;
        log.warn({ err, deliveryIds: ids }, 'webhook item set aside');
        setAside.push(`${step.item} (${reasonOf(err)})`);
      }
    }
    // Isolating is one delivery at a time, so whatever was set aside is that delivery's.
    if (setAside.length > 0) {
      for (const d of done) {
        const note = `${setAside.length} item(s) set aside: ${setAside.join('; ')}`;
        Object.assign(d, { detail: d.detail ? `${d.detail}; ${note}` : note, keepBody: true });
      }
    }
    await finishDeliveries(tx, orgId, done);
    return { events, deferred };
  });
}

/** The phone number ids of the organization's live WhatsApp channels among `ids`. */
async function phoneNumbers(tx: Tx, orgId: string, ids: string[]): Promise<Map<string, string>> {
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
