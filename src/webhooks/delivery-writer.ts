import type { Database } from '../db/client.js';
import { isPermanentFailure } from '../db/errors.js';
import { uuidv7 } from '../db/ids.js';
import { insertDeliveries, type DeliveryRecord, type DeliveryRow } from './deliveries.js';

/** Rows and body bytes per INSERT (one delivery may be 3 MiB); transactions in flight per organization. */
const MAX_BATCH = 256;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_IN_FLIGHT = 4;

interface Waiting {
  row: DeliveryRow;
  resolve: (id: string) => void;
  reject: (err: unknown) => void;
}

/**
 * Stores signed deliveries durably, many per transaction. Each caller still gets its answer
 * only after the COMMIT that holds its row, so a 200 always means "on disk"; but under load
 * the rows that arrive while a commit is under way share the next one (group commit), which
 * is what lets one PostgreSQL take thousands of deliveries a second. When idle, a delivery
 * is written at once: batching adds no wait of its own.
 */
export class DeliveryWriter {
  private readonly queues = new Map<string, { waiting: Waiting[]; inFlight: number }>();

  constructor(private readonly db: Database) {}

  write(record: DeliveryRecord): Promise<string> {
    const row = { ...record, id: uuidv7() };
    let q = this.queues.get(record.orgId);
    if (!q) this.queues.set(record.orgId, (q = { waiting: [], inFlight: 0 }));
    const done = new Promise<string>((resolve, reject) => q.waiting.push({ row, resolve, reject }));
    this.pump(record.orgId);
    return done;
  }

  private pump(orgId: string): void {
    const q = this.queues.get(orgId);
    if (!q) return;
    while (q.inFlight < MAX_IN_FLIGHT && q.waiting.length > 0) {
      let n = 0;
      for (let bytes = 0; n < q.waiting.length && n < MAX_BATCH; n++) {
        bytes += q.waiting[n]!.row.sizeBytes;
        if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      }
      const batch = q.waiting.splice(0, n);
      q.inFlight++;
      void this.insert(orgId, batch).finally(() => {
        q.inFlight--;
        if (q.inFlight === 0 && q.waiting.length === 0) this.queues.delete(orgId);
        else this.pump(orgId);
      });
    }
  }

  private async insert(orgId: string, batch: Waiting[]): Promise<void> {
    try {
      await this.db.withOrgStatement(orgId, (tx) =>
        insertDeliveries(
          tx,
          orgId,
          batch.map((w) => w.row),
        ),
      );
    } catch (err) {
      // A row refused on its own must not fail the deliveries batched beside it: each is
      // then written alone, and only the one at fault is answered with an error.
      if (batch.length > 1 && isPermanentFailure(err)) {
        for (const w of batch) await this.insert(orgId, [w]);
        return;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    for (const w of batch) w.resolve(w.row.id);
  }
}
