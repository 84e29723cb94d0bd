import { and, desc, eq, lt } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { customers } from '../../db/schema.js';
import { customerEvents } from '../../db/schema/whatsapp.js';
import type { TimelineEventOut } from './schema.js';

/**
 * One page of a customer's timeline, newest first, or undefined when the customer is not
 * in this organization. A single SELECT (the customer left-joined to its events), so that
 * "no such customer" and "no events yet" are told apart without a second query, and the
 * organization is named on both tables (RLS is the last guard, not the only one).
 */
export async function timeline(
  tx: Tx,
  orgId: string,
  customerId: string,
  q: { limit: number; cursor?: string | undefined },
): Promise<TimelineEventOut[] | undefined> {
  const on = [
    eq(customerEvents.organizationId, customers.organizationId),
    eq(customerEvents.customerId, customers.id),
  ];
  if (q.cursor) on.push(lt(customerEvents.id, q.cursor));
  const rows = await tx
    .select({
      id: customerEvents.id,
      type: customerEvents.type,
      occurredAt: customerEvents.occurredAt,
      channelId: customerEvents.channelId,
      data: customerEvents.data,
    })
    .from(customers)
    .leftJoin(customerEvents, and(...on))
    .where(and(eq(customers.organizationId, orgId), eq(customers.id, customerId)))
    .orderBy(desc(customerEvents.id))
    .limit(q.limit + 1);
  if (rows.length === 0) return undefined;
  return rows.flatMap((r) =>
    r.id === null || r.type === null || r.occurredAt === null
      ? []
      : [
          {
            id: r.id,
            type: r.type,
            occurredAt: r.occurredAt.toISOString(),
            channelId: r.channelId,
            data: r.data ?? {},
          },
        ],
  );
}
