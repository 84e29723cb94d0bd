import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../../db/client.js';
import { isPermanentFailure } from '../../db/errors.js';
import type { RealtimeEvent, RealtimePublisher } from '../../realtime/events.js';
import { claimDeliveries, finishDeliveries, finishDelivery, phoneNumbers } from '../deliveries.js';
import {
  applyEarlyStatuses,
  applyStatuses,
  parseDelivery,
  storeInbound,
  type IngestTarget,
} from './ingest.js';
import type { StatusUpdate } from './payload.js';

const CONCURRENCY = 2;
/** Deliveries of one organization processed in one transaction. */
const BATCH = 500;
/**
 * How long new deliveries gather before a batch starts. Under load this makes batches
 * large (a few statements per batch rather than per message), which leaves the CPU to
 * acknowledging deliveries; idle, it is the whole delay before a message shows up.
 */
const GATHER_MS = 50;
/** Beyond this backlog new deliveries wait for the sweep instead of holding memory. */
const MAX_BACKLOG = 20_000;
const SWEEP_MS = 2_000;
const MAX_FAILURES = 5;

/**
 * Turns stored WhatsApp deliveries into customers, conversations and messages. The 200 has
 * already been sent when this runs; the stored row is the promise. Deliveries are processed
 * right after they are stored, up to BATCH of one organization per transaction, and a
 * periodic sweep picks up whatever is still pending (a crash, a full backlog, another
 * instance that died), so an acknowledged delivery is always processed, and once.
 */
export class DeliveryProcessor {
  /** Pending delivery ids by organization (insertion order is arrival order). */
  private readonly backlog = new Map<string, Set<string>>();
  private size = 0;
  private readonly failures = new Map<string, number>();
  /**
   * Organizations with a batch in flight. One at a time per organization: two batches
   * upserting the same customers and conversations in different orders would deadlock.
   */
  private readonly busy = new Set<string>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private gathering: NodeJS.Timeout | undefined;
  private idle: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly realtime: RealtimePublisher,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    const tick = () => void this.sweep().catch((err) => this.log.error({ err }, 'sweep failed'));
    this.timer = setInterval(tick, SWEEP_MS);
    this.timer.unref();
    tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.gathering);
    this.backlog.clear();
    while (this.running > 0) await this.idle;
  }

  schedule(orgId: string, id: string): void {
    if (this.closed || this.size >= MAX_BACKLOG) return;
    let ids = this.backlog.get(orgId);
    if (!ids) this.backlog.set(orgId, (ids = new Set()));
    if (ids.has(id)) return;
    ids.add(id);
    this.size++;
    this.gathering ??= setTimeout(() => {
      this.gathering = undefined;
      this.drain();
    }, GATHER_MS);
  }

  /** Deliveries left pending for a while, across organizations (SECURITY DEFINER lookup). */
  async sweep(): Promise<void> {
    const due = await this.db.withoutOrg((tx) =>
      rows<{ id: string; organization_id: string }>(
        tx,
        sql`select * from pending_webhook_deliveries(${`${SWEEP_MS} milliseconds`}::interval, 1000)`,
      ),
    );
    for (const d of due) this.schedule(d.organization_id, d.id);
    for (const [orgId, moved] of await applyEarlyStatuses(this.db)) {
      for (const data of moved) this.realtime.publish(orgId, { type: 'message.status', data });
    }
  }

  private take(): { orgId: string; ids: string[] } | undefined {
    const next = [...this.backlog].find(([orgId]) => !this.busy.has(orgId));
    if (!next) return undefined;
    const [orgId, pending] = next;
    const ids = [...pending].slice(0, BATCH);
    for (const id of ids) pending.delete(id);
    this.size -= ids.length;
    // Round robin: an organization with a long backlog goes to the back of the line.
    this.backlog.delete(orgId);
    if (pending.size > 0) this.backlog.set(orgId, pending);
    return { orgId, ids };
  }

  private drain(): void {
    while (this.running < CONCURRENCY) {
      const batch = this.take();
      if (!batch) return;
      if (this.running++ === 0) this.idle = new Promise((r) => (this.wake = r));
      this.busy.add(batch.orgId);
      void this.run(batch.orgId, batch.ids).finally(() => {
        this.busy.delete(batch.orgId);
        if (--this.running === 0) this.wake?.();
        this.drain();
      });
    }
  }

  private async run(orgId: string, ids: string[]): Promise<void> {
    try {
      this.publish(orgId, await this.process(orgId, ids));
    } catch (err) {
      if (ids.length > 1) {
        // One bad delivery must not hold up the others: retry them one by one.
        for (const id of ids) await this.run(orgId, [id]);
        return;
      }
      const id = ids[0]!;
      this.log.error({ err, deliveryId: id }, 'webhook delivery processing failed');
      // An outage is waited out (the sweep retries); only a delivery that fails on its own,
      // again and again, is set aside as failed.
      if (!isPermanentFailure(err)) return;
      const n = (this.failures.get(id) ?? 0) + 1;
      this.failures.set(id, n);
      if (n >= MAX_FAILURES) await this.giveUp(orgId, id).catch(() => undefined);
      return;
    }
    for (const id of ids) this.failures.delete(id);
  }

  private publish(orgId: string, events: RealtimeEvent[]) {
    for (const event of events) this.realtime.publish(orgId, event);
  }

  private async process(orgId: string, ids: string[]): Promise<RealtimeEvent[]> {
    const later: string[] = [];
    const events = await this.db.withOrg(orgId, async (tx) => {
      const { claimed, deferred } = await claimDeliveries(tx, orgId, ids);
      later.push(...deferred);
      const done = [];
      const inbound = [];
      const statuses: { target: IngestTarget; statuses: StatusUpdate[] }[] = [];
      const events: RealtimeEvent[] = [];
      // In this transaction, not through the channel cache: on PGlite's single connection a
      // second transaction would wait for this one forever.
      const numbers = await phoneNumbers(tx, orgId, [...new Set(claimed.map((d) => d.channelId))]);
      for (const delivery of claimed) {
        const phoneNumberId = numbers.get(delivery.channelId);
        if (!phoneNumberId) {
          done.push({ id: delivery.id, outcome: 'dropped' as const, detail: 'channel deleted' });
          continue;
        }
        const target = { orgId, channelId: delivery.channelId, phoneNumberId };
        const parsed = parseDelivery(target, delivery.body);
        done.push({ id: delivery.id, outcome: parsed.outcome, detail: parsed.detail });
        inbound.push(...parsed.inbound);
        // Statuses after the messages they may follow in the same batch.
        statuses.push({ target, statuses: parsed.statuses });
      }
      for (const data of await storeInbound(tx, orgId, inbound)) {
        events.push({ type: 'message.created', data });
      }
      for (const s of statuses) {
        for (const data of await applyStatuses(tx, s.target, s.statuses)) {
          events.push({ type: 'message.status', data });
        }
      }
      await finishDeliveries(tx, orgId, done);
      return events;
    });
    for (const id of later) this.schedule(orgId, id);
    return events;
  }

  private async giveUp(orgId: string, id: string): Promise<void> {
    this.failures.delete(id);
    await this.db.withOrg(orgId, (tx) =>
      finishDelivery(tx, orgId, id, 'failed', 'processing failed repeatedly; see the server log'),
    );
  }
}
