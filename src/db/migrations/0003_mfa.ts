import { tenantIsolation } from './rls.js';

export default /* sql */ `
-- TOTP enrolment: one row per user. Secrets are keyring ciphertexts (v1.<keyId>...), never
-- plaintext; the associated data binds each to its organization and column.
CREATE TABLE user_totp (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  secret text,
  pending_secret text,
  last_used_step bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_totp_organization_idx ON user_totp (organization_id);

-- Recovery codes: only their SHA-256 is stored; used_at marks the one-time use.
CREATE TABLE mfa_recovery_codes (
  code_hash bytea PRIMARY KEY CHECK (length(code_hash) = 32),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (organization_id, user_id);

-- The second step of a sign-in whose password was right. The client holds a random token;
-- only its SHA-256 is stored. Expiry, failed codes and completion end it.
CREATE TABLE mfa_challenges (
  token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
  completed_at timestamptz
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (organization_id, user_id, created_at);

${tenantIsolation('user_totp', 'mfa_recovery_codes', 'mfa_challenges')}

GRANT SELECT, INSERT, UPDATE, DELETE ON user_totp, mfa_recovery_codes, mfa_challenges TO bastion_app;

-- Pre-auth: the second sign-in step knows only its token, so this finds the organization
-- of a token's hash (nothing else); everything after runs under that organization's RLS.
CREATE FUNCTION auth_mfa_challenge_org(p_hash bytea)
RETURNS TABLE (organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT c.organization_id FROM public.mfa_challenges c
  WHERE c.token_hash = p_hash AND c.completed_at IS NULL AND c.expires_at > now()
$fn$;

REVOKE ALL ON FUNCTION auth_mfa_challenge_org(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_mfa_challenge_org(bytea) TO bastion_app;
`;
