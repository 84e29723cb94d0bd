import { organizationIsolation, tenantIsolation } from './rls.js';

export default /* sql */ `
-- The pre-auth functions below run as the owner and must see every organization's
-- rows, so the owner has to be exempt from row-level security. Refuse anything else
-- rather than ship a login that silently finds no one.
DO $$
BEGIN
  IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'migrations must run as a superuser or BYPASSRLS role (DATABASE_MIGRATION_URL)';
  END IF;
END $$;

-- The role every request runs as (SET LOCAL ROLE). NOLOGIN: operators grant it to a
-- login role that is neither superuser nor BYPASSRLS.
DO $$
BEGIN
  CREATE ROLE bastion_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
-- A bastion_app that already existed is accepted only if it is as powerless as the one
-- created above: every request runs as this role, so its privileges are RLS's limits.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bastion_app' AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'role bastion_app must be neither superuser nor BYPASSRLS';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
             WHERE r.rolname = 'bastion_app') THEN
    RAISE EXCEPTION 'role bastion_app must not be a member of other roles';
  END IF;
END $$;

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  require_mfa boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  email text NOT NULL CHECK (email = lower(email)),
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
  password_hash text NOT NULL,
  mfa_enabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Sign-in is by email alone, so an email belongs to one account across all organizations.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_organization_idx ON users (organization_id);

CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  idle_expires_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text,
  ip text,
  user_agent text
);
CREATE INDEX sessions_user_live_idx ON sessions (organization_id, user_id) WHERE revoked_at IS NULL;

-- One row per issued refresh token: rotation marks the row used, so a second use of the
-- same token is detectable (RFC 9700 4.14.2). Only the SHA-256 of the token is stored.
CREATE TABLE refresh_tokens (
  token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE customers (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name text NOT NULL,
  phone text NOT NULL CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
  email text,
  tags text[] NOT NULL DEFAULT '{}',
  notes text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT customers_org_phone_key UNIQUE (organization_id, phone)
);
CREATE INDEX customers_org_id_idx ON customers (organization_id, id DESC);

-- Tenant isolation: every tenant table is visible only for the organization set in the
-- current transaction (app.org_id). FORCE applies it to the table owner as well.
${tenantIsolation('users', 'sessions', 'refresh_tokens', 'customers')}
${organizationIsolation}

GRANT USAGE ON SCHEMA public TO bastion_app;
GRANT SELECT, INSERT, UPDATE ON organizations TO bastion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, refresh_tokens, customers TO bastion_app;

-- Pre-auth lookups: the only way to reach tenant rows before the organization is known.
-- Each returns the minimum the caller needs and nothing else.
CREATE FUNCTION auth_user_by_email(p_email text)
RETURNS TABLE (user_id uuid, organization_id uuid, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT u.id, u.organization_id, u.password_hash FROM public.users u WHERE u.email = lower(p_email)
$fn$;

CREATE FUNCTION auth_session_by_refresh_hash(p_hash bytea)
RETURNS TABLE (session_id uuid, organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT r.session_id, r.organization_id FROM public.refresh_tokens r WHERE r.token_hash = p_hash
$fn$;

REVOKE ALL ON FUNCTION auth_user_by_email(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth_session_by_refresh_hash(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_user_by_email(text) TO bastion_app;
GRANT EXECUTE ON FUNCTION auth_session_by_refresh_hash(bytea) TO bastion_app;
`;
