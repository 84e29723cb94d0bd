import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../../db/client.js';
import { isPermanentFailure } from '../../db/errors.js';
import type { RealtimePublisher } from '../../realtime/events.js';
import { finishDeliveries } from '../deliveries.js';
import { processDeliveries } from './batch.js';
import { applyEarlyStatuses } from './statuses.js';

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

  private async run(orgId: string, ids: string[], isolate = false): Promise<void> {
    try {
      const { events, deferred } = await processDeliveries(this.db, this.log, orgId, ids, isolate);
      for (const event of events) this.realtime.publish(orgId, event);
      for (const id of deferred) this.schedule(orgId, id);
    } catch (err) {
      if (ids.length > 1) {
        // One bad delivery must not hold up the others: retry them one by one.
        for (const id of ids) await this.run(orgId, [id]);
        return;
      }
      const id = ids[0]!;
      this.log.error({ err, deliveryId: id }, 'webhook delivery processing failed');
      // An outage is waited out (the sweep retries).
      if (!isPermanentFailure(err)) return;
      // A delivery that fails on its own: its items one by one, so that only the one at
      // fault is set aside and the customers' other messages are stored.
      if (!isolate) return this.run(orgId, ids, true);
      const n = (this.failures.get(id) ?? 0) + 1;
      this.failures.set(id, n);
      if (n >= MAX_FAILURES) await this.giveUp(orgId, id).catch(() => undefined);
      return;
    }
    for (const id of ids) this.failures.delete(id);
  }

  private async giveUp(orgId: string, id: string): Promise<void> {
    this.failures.delete(id);
    await this.db.withOrg(orgId, (tx) =>
      finishDeliveries(tx, orgId, [
        {
          id,
          outcome: 'failed',
          detail: 'processing failed repeatedly; see the server log',
          keepBody: true,
        },
      ]),
    );
  }
}
