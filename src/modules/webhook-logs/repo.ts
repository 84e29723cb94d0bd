import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { webhookDeliveries as d } from '../../db/schema/whatsapp.js';
import type { WebhookLogOut, WebhookLogQuery } from './schema.js';

/**
 * The webhook log, newest first (uuidv7 ids are time-ordered). The column list is
 * explicit: the stored body of a pending delivery is never selected.
 */
export async function list(tx: Tx, orgId: string, q: WebhookLogQuery): Promise<WebhookLogOut[]> {
  const where: (SQL | undefined)[] = [eq(d.organizationId, orgId)];
  if (q.cursor) where.push(lt(d.id, q.cursor));
  if (q.channelId) where.push(eq(d.channelId, q.channelId));
  if (q.outcome) where.push(eq(d.outcome, q.outcome));
  const rows = await tx
    .select({
      id: d.id,
      channelId: d.channelId,
      source: d.source,
      receivedAt: d.receivedAt,
      outcome: d.outcome,
      statusCode: d.statusCode,
      sizeBytes: d.sizeBytes,
      topic: d.topic,
      detail: d.detail,
      requestId: d.requestId,
      processedAt: d.processedAt,
    })
    .from(d)
    .where(and(...where))
    .orderBy(desc(d.id))
    .limit(q.limit + 1);
  return rows.map((r) => ({
    ...r,
    receivedAt: r.receivedAt.toISOString(),
    processedAt: r.processedAt?.toISOString() ?? null,
  }));
}
