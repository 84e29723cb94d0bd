import { and, eq, sql } from 'drizzle-orm';
import { rows, type Tx } from '../db/client.js';
import { conflictOnDuplicate } from '../db/errors.js';
import { organizations, users, type Role } from '../db/schema.js';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  mfaEnabled: boolean;
}

const userColumns = {
  id: users.id,
  email: users.email,
  name: users.name,
  role: users.role,
  mfaEnabled: users.mfaEnabled,
};
const orgColumns = { id: organizations.id, name: organizations.name, slug: organizations.slug };

/** Pre-auth: the SECURITY DEFINER lookup, the one way to find an account by email. */
export async function credentialsByEmail(tx: Tx, email: string) {
  const [row] = await rows<{ user_id: string; organization_id: string; password_hash: string }>(
    tx,
    sql`select user_id, organization_id, password_hash from auth_user_by_email(${email})`,
  );
  return row;
}

export async function insertOrganization(tx: Tx, org: { id: string; name: string; slug: string }) {
  await tx.insert(organizations).values(org);
}

export async function insertUser(
  tx: Tx,
  u: { id: string; orgId: string; email: string; name: string; role: Role; passwordHash: string },
) {
  await tx.insert(users).values({
    id: u.id,
    organizationId: u.orgId,
    email: u.email,
    name: u.name,
    role: u.role,
    passwordHash: u.passwordHash,
  });
}

/** The user and their organization, as the API shows them (RLS scopes both to the org). */
export async function userWithOrganization(tx: Tx, orgId: string, userId: string) {
  const [row] = await tx
    .select({ user: userColumns, organization: orgColumns })
    .from(users)
    .innerJoin(organizations, eq(organizations.id, users.organizationId))
    .where(and(eq(users.organizationId, orgId), eq(users.id, userId)));
  return row;
}

export async function passwordHashOf(tx: Tx, userId: string): Promise<string | undefined> {
  const [row] = await tx
    .select({ hash: users.passwordHash })
    .from(users)
    .where(eq(users.id, userId));
  return row?.hash;
}

export async function setPasswordHash(tx: Tx, userId: string, passwordHash: string) {
  await tx.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
}

export async function setEmail(tx: Tx, orgId: string, userId: string, email: string) {
  const [row] = await tx
    .update(users)
    .set({ email, updatedAt: new Date() })
    .where(and(eq(users.organizationId, orgId), eq(users.id, userId)))
    .returning(userColumns);
  return row;
}

/** Emails are unique across the server (sign-in is by email alone): a duplicate is a 409. */
export const uniqueEmail = <T>(write: Promise<T>): Promise<T> =>
  conflictOnDuplicate(write, 'users_email_key', 'An account with this email already exists');
