import { and, desc, eq, ilike, lt, or, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { customers } from '../../db/schema.js';
import type { CustomerCreate, CustomerOut, CustomerPatch } from './schema.js';

/**
 * Customer queries. Each runs inside withOrg, so row-level security already confines it
 * to the caller's organization; the explicit organization_id conditions are the first
 * guard (and let the planner use the (organization_id, ...) indexes), RLS the last.
 */
const columns = {
  id: customers.id,
  name: customers.name,
  phone: customers.phone,
  email: customers.email,
  tags: customers.tags,
  notes: customers.notes,
  createdAt: customers.createdAt,
  updatedAt: customers.updatedAt,
};

type Row = Pick<typeof customers.$inferSelect, keyof typeof columns>;

const toOut = (r: Row): CustomerOut => ({
  ...r,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

/** `%` and `_` typed by a user match themselves, not any text. */
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function list(
  tx: Tx,
  orgId: string,
  q: { limit: number; cursor?: string | undefined; search?: string | undefined },
): Promise<CustomerOut[]> {
  const where: (SQL | undefined)[] = [eq(customers.organizationId, orgId)];
  if (q.cursor) where.push(lt(customers.id, q.cursor));
  if (q.search) {
    const pattern = `%${likeEscape(q.search)}%`;
    where.push(
      or(
        ilike(customers.name, pattern),
        ilike(customers.phone, pattern),
        ilike(customers.email, pattern),
      ),
    );
  }
  const rows = await tx
    .select(columns)
    .from(customers)
    .where(and(...where))
    .orderBy(desc(customers.id))
    .limit(q.limit + 1);
  return rows.map(toOut);
}

export async function get(tx: Tx, orgId: string, id: string): Promise<CustomerOut | undefined> {
  const [row] = await tx
    .select(columns)
    .from(customers)
    .where(and(eq(customers.organizationId, orgId), eq(customers.id, id)));
  return row && toOut(row);
}

export async function create(tx: Tx, orgId: string, input: CustomerCreate): Promise<CustomerOut> {
  const [row] = await tx
    .insert(customers)
    .values({
      id: uuidv7(),
      organizationId: orgId,
      name: input.name,
      phone: input.phone,
      email: input.email ?? null,
      tags: input.tags ?? [],
      notes: input.notes ?? null,
    })
    .returning(columns);
  return toOut(row!);
}

export async function update(
  tx: Tx,
  orgId: string,
  id: string,
  patch: CustomerPatch,
): Promise<CustomerOut | undefined> {
  const [row] = await tx
    .update(customers)
    .set({ ...patch, updatedAt: new Date() })
    .where(and(eq(customers.organizationId, orgId), eq(customers.id, id)))
    .returning(columns);
  return row && toOut(row);
}

export async function remove(tx: Tx, orgId: string, id: string): Promise<boolean> {
  const deleted = await tx
    .delete(customers)
    .where(and(eq(customers.organizationId, orgId), eq(customers.id, id)))
    .returning({ id: customers.id });
  return deleted.length > 0;
}
