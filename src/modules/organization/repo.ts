import { eq } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { organizations } from '../../db/schema.js';
import type { OrganizationPatch, OrganizationSettings } from './schema.js';

/**
 * The caller's own organization, always by the id of the verified credential. RLS on
 * organizations shows only the row of app.org_id as well.
 */
const columns = {
  id: organizations.id,
  name: organizations.name,
  slug: organizations.slug,
  requireMfa: organizations.requireMfa,
};

export async function get(tx: Tx, orgId: string): Promise<OrganizationSettings | undefined> {
  const [row] = await tx.select(columns).from(organizations).where(eq(organizations.id, orgId));
  return row;
}

export async function update(
  tx: Tx,
  orgId: string,
  patch: OrganizationPatch,
): Promise<OrganizationSettings | undefined> {
  const [row] = await tx
    .update(organizations)
    .set(patch)
    .where(eq(organizations.id, orgId))
    .returning(columns);
  return row;
}
