import { and, asc, count, eq, gt, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import { organizations, users, type Role } from '../../db/schema.js';

type UserRow = typeof users.$inferInsert;
import type { UserOut } from './schema.js';

/**
 * Member queries. Each runs inside withOrg (row-level security confines it to the caller's
 * organization); the explicit organization_id conditions are the first guard, RLS the last.
 * The password hash is never selected: no query here can leak it into a response.
 */
const columns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  mfaEnabled: users.mfaEnabled,
};

export async function list(
  tx: Tx,
  orgId: string,
  q: { limit: number; cursor?: string | undefined },
): Promise<UserOut[]> {
  const where: SQL[] = [eq(users.organizationId, orgId)];
  if (q.cursor) where.push(gt(users.id, q.cursor));
  return tx
    .select(columns)
    .from(users)
    .where(and(...where))
    .orderBy(asc(users.id))
    .limit(q.limit + 1);
}

export async function get(tx: Tx, orgId: string, id: string): Promise<UserOut | undefined> {
  const [row] = await tx
    .select(columns)
    .from(users)
    .where(and(eq(users.organizationId, orgId), eq(users.id, id)));
  return row;
}

/**
 * Serializes member changes of one organization: two owners demoting each other at the same
 * moment would otherwise both see "another owner remains" and leave none. NO KEY UPDATE does
 * not block inserts that merely reference the organization.
 */
export async function lockOrganization(tx: Tx, orgId: string): Promise<void> {
  await tx
    .select({ id: organizations.id })
    .from(organizations)
    .where(eq(organizations.id, orgId))
    .for('no key update');
}

export async function countOwners(tx: Tx, orgId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.organizationId, orgId), eq(users.role, 'owner')));
  return row?.n ?? 0;
}

export async function insert(
  tx: Tx,
  orgId: string,
  input: { email: string; name: string; role: Role; passwordHash: string },
): Promise<UserOut> {
  const [row] = await tx
    .insert(users)
    .values({ id: uuidv7(), organizationId: orgId, ...input })
    .returning(columns);
  return row!;
}

export async function update(
  tx: Tx,
  orgId: string,
  id: string,
  set: { [K in 'email' | 'name' | 'role' | 'passwordHash']?: UserRow[K] | undefined },
): Promise<UserOut | undefined> {
  const [row] = await tx
    .update(users)
    .set({ ...set, updatedAt: new Date() })
    .where(and(eq(users.organizationId, orgId), eq(users.id, id)))
    .returning(columns);
  return row;
}

export async function remove(tx: Tx, orgId: string, id: string): Promise<boolean> {
  const deleted = await tx
    .delete(users)
    .where(and(eq(users.organizationId, orgId), eq(users.id, id)))
    .returning({ id: users.id });
  return deleted.length > 0;
}
