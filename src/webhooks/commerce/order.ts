import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { rows, type Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { customerEvents } from '../../db/schema/whatsapp.js';
import { phone as e164 } from '../../modules/shared.js';

/**
 * The part of a WooCommerce order (REST API v3 shape) that the timeline needs, and nothing
 * more: addresses, line items and payment details are never read, so they are never stored.
 * Unknown keys are dropped, not refused: the store adds fields with every release.
 */
const money = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^-?\d{1,15}(\.\d{1,6})?$/));
const gmt = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
  .nullish();

export const wooOrder = z.object({
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  number: z
    .union([z.string(), z.number()])
    .transform(String)
    .pipe(z.string().regex(/^[^\p{Cc}]{1,64}$/u)),
  status: z.string().regex(/^[a-z0-9_-]{1,64}$/),
  currency: z.string().regex(/^[A-Z]{3}$/),
  total: money,
  date_created_gmt: gmt,
  date_modified_gmt: gmt,
  billing: z.object({
    first_name: z.string().max(500).nullish(),
    last_name: z.string().max(500).nullish(),
    email: z.string().max(500).nullish(),
    phone: z.string().max(100).nullish(),
  }),
});
export type WooOrder = z.infer<typeof wooOrder>;

/**
 * E.164 from what a shopper typed. A number without its country code is refused rather
 * than guessed: attaching the order to a same-digits customer of another country would
 * put one person's purchases on someone else's timeline.
 */
export function normalizePhone(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let p = raw.trim().replace(/[\s\-().]/g, '');
  if (p.startsWith('00')) p = `+${p.slice(2)}`;
  return e164.safeParse(p).success ? p : null;
}

/** Printable text only: a control character can hide or forge content in logs and UIs. */
const clean = (s: string | null | undefined) =>
  (s ?? '')
    .replace(/\p{Cc}/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

export function customerFields(order: WooOrder, phone: string) {
  const name = clean(`${clean(order.billing.first_name)} ${clean(order.billing.last_name)}`);
  const email = z.email().max(254).safeParse(clean(order.billing.email));
  return {
    name: name ? name.slice(0, 200) : null,
    phone,
    email: email.success ? email.data.toLowerCase() : null,
  };
}

/** When the order event happened (WooCommerce's *_gmt fields carry no offset), else now. */
export function occurredAt(order: WooOrder, topic: string): Date {
  const at =
    topic === 'order.updated'
      ? (order.date_modified_gmt ?? order.date_created_gmt)
      : order.date_created_gmt;
  const d = at ? new Date(`${at}Z`) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

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
