import { tenantIsolation } from './rls.js';

export default /* sql */ `
-- Organization API keys: only the SHA-256 of the secret is stored (the key is 256 random
-- bits, so a fast hash is enough); revoking keeps the row for the audit trail.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  key_hash bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
  prefix text NOT NULL,
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0),
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_org_idx ON api_keys (organization_id, id DESC);

${tenantIsolation('api_keys')}
GRANT SELECT, INSERT, UPDATE ON api_keys TO bastion_app;

-- Pre-auth: which organization a presented key belongs to, and nothing else.
CREATE FUNCTION auth_api_key_org(p_hash bytea)
RETURNS TABLE (api_key_id uuid, organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT k.id, k.organization_id FROM public.api_keys k WHERE k.key_hash = p_hash
$fn$;
REVOKE ALL ON FUNCTION auth_api_key_org(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_api_key_org(bytea) TO bastion_app;
`;
