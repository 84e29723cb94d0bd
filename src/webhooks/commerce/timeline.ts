import { sql } from 'drizzle-orm';
import { rows, type Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { customerEvents } from '../../db/schema/whatsapp.js';
import type { WooOrder } from './order.js';

/**
 * Finds or creates the customer by phone within the organization. The store is the source
 * of the billing name and email, but it never blanks what an agent already recorded.
 */
export async function upsertCustomer(
  tx: Tx,
  orgId: string,
  c: { name: string | null; phone: string; email: string | null },
): Promise<{ id: string; inserted: boolean }> {
  const [row] = await rows<{ id: string; inserted: boolean }>(
    tx,
    sql`insert into customers (id, organization_id, name, phone, email)
        values (${uuidv7()}::uuid, ${orgId}::uuid, ${c.name ?? c.phone}, ${c.phone}, ${c.email})
        on conflict (organization_id, phone) do update set
          -- The store fills gaps only: a name an agent typed (anything but the placeholder
          -- phone number) and an email already on file are never overwritten by an order.
          name = case when customers.name = customers.phone
                      then coalesce(${c.name}, customers.name) else customers.name end,
          email = coalesce(customers.email, ${c.email}),
          updated_at = now()
        where customers.organization_id = ${orgId}::uuid
        returning id, (xmax = 0) as inserted`,
  );
  if (!row) throw new Error('customer upsert returned no row');
  return row;
}

/** True when this event was already on the timeline (a redelivery or a replay). */
export async function eventExists(tx: Tx, orgId: string, sourceKey: string): Promise<boolean> {
  const found = await rows<{ one: number }>(
    tx,
    sql`select 1 as one from customer_events
        where organization_id = ${orgId}::uuid and source_key = ${sourceKey}`,
  );
  return found.length > 0;
}

export async function insertEvent(
  tx: Tx,
  e: {
    orgId: string;
    customerId: string;
    channelId: string;
    type: string;
    sourceKey: string;
    at: Date;
    order: WooOrder;
  },
): Promise<boolean> {
  const inserted = await tx
    .insert(customerEvents)
    .values({
      id: uuidv7(),
      organizationId: e.orgId,
      customerId: e.customerId,
      channelId: e.channelId,
      type: e.type,
      sourceKey: e.sourceKey,
      occurredAt: e.at,
      data: {
        orderId: e.order.id,
        number: e.order.number,
        status: e.order.status,
        currency: e.order.currency,
        total: e.order.total,
      },
    })
    .onConflictDoNothing()
    .returning({ id: customerEvents.id });
  return inserted.length > 0;
}
