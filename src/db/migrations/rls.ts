/**
 * SQL shared by migrations. Shipped migrations are history: never change what these return
 * (that would make fresh databases differ from migrated ones); add a new helper instead.
 */
/** The organization of the current transaction, as withOrg sets it; NULL when none is set. */
const CURRENT_ORG = "nullif(current_setting('app.org_id', true), '')::uuid";

/**
 * Tenant isolation for tables keyed by organization_id: row-level security ENABLE + FORCE
 * (FORCE binds the table owner too) and one policy for reads and writes alike, so a row
 * of another organization can be neither seen nor written.
 */
export const tenantIsolation = (...tables: string[]) =>
  tables
    .map(
      (t) => `
ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ${t}
  USING (organization_id = ${CURRENT_ORG})
  WITH CHECK (organization_id = ${CURRENT_ORG});`,
    )
    .join('\n');

/** The organizations table is keyed by its own id. */
export const organizationIsolation = `
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
  USING (id = ${CURRENT_ORG})
  WITH CHECK (id = ${CURRENT_ORG});`;
