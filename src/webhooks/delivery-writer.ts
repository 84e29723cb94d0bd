import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { uuidv7 } from '../db/ids.js';
import type { DeliveryRecord } from './deliveries.js';

/** Rows and body bytes per INSERT (one delivery may be 3 MiB); transactions in flight per organization. */
const MAX_BATCH = 256;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_IN_FLIGHT = 4;

interface Waiting {
  row: DeliveryRecord & { id: string };
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
      await this.db.withOrgStatement(orgId, (tx) => tx.execute(insertStatement(orgId, batch)));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    for (const w of batch) w.resolve(w.row.id);
  }
}

/** One statement whatever the batch size (one prepared plan): the rows travel as JSON. */
function insertStatement(orgId: string, batch: Waiting[]) {
  const json = JSON.stringify(
    batch.map(({ row: r }) => ({
      id: r.id,
      channel_id: r.channelId,
      source: r.source,
      outcome: r.outcome,
      status_code: r.statusCode,
      size_bytes: r.sizeBytes,
      topic: r.topic?.slice(0, 100) ?? null,
      body: r.outcome === 'pending' && r.body ? r.body.toString('base64') : null,
      detail: r.detail?.slice(0, 500) ?? null,
      request_id: r.requestId,
    })),
  );
  return sql`
          insert into webhook_deliveries (id, organization_id, channel_id, source, outcome,
            status_code, size_bytes, topic, body, detail, request_id)
          select r.id, ${orgId}::uuid, r.channel_id, r.source, r.outcome, r.status_code,
            r.size_bytes, r.topic, decode(r.body, 'base64'), r.detail, r.request_id
          from jsonb_to_recordset(${json}::text::jsonb) as r(id uuid, channel_id uuid,
            source text, outcome text, status_code int, size_bytes int, topic text, body text,
            detail text, request_id text)`;
}
