import { tenantIsolation } from './rls.js';

export default /* sql */ `
-- The audit trail (CONTRACT section 10). The application role may only read and append:
-- a compromised server can add rows but never rewrite or remove the ones already there.
-- Each organization's rows form a SHA-256 chain, so an edit or deletion made with the
-- owner's privileges still shows up in \`bastion audit verify\`.
CREATE TABLE audit_logs (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  actor_id uuid,
  action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
  target_type text CHECK (target_type ~ '^[a-z][a-z0-9_]{0,63}$'),
  target_id text CHECK (length(target_id) <= 200),
  ip text CHECK (length(ip) <= 64),
  user_agent text CHECK (length(user_agent) <= 512),
  request_id text CHECK (length(request_id) <= 128),
  metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  CONSTRAINT audit_logs_org_seq_key UNIQUE (organization_id, seq)
);
CREATE INDEX audit_logs_org_id_idx ON audit_logs (organization_id, id DESC);

-- The last link of each organization's chain. Appends lock it (FOR UPDATE), so concurrent
-- appends in one organization queue into a single chain; and since the application role
-- cannot touch it, rows deleted from the end of the chain are detected too.
CREATE TABLE audit_chain_heads (
  organization_id uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  hash bytea NOT NULL CHECK (length(hash) = 32)
);

-- One field of the hashed encoding: NULL as '~', else its byte length, ':', the text. The
-- length prefix keeps 'ab' + 'c' from hashing like 'a' + 'bc'. bastion audit verify
-- rebuilds the same encoding in TypeScript from the stored columns.
CREATE FUNCTION audit_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE WHEN v IS NULL THEN '~' ELSE octet_length(v)::text || ':' || v END
$fn$;

-- Fills seq, at, prev_hash and hash itself, whatever the inserting statement supplied: the
-- application cannot choose its place in the chain, backdate a row or forge a hash.
CREATE FUNCTION audit_logs_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  head record;
  scoped text := nullif(current_setting('app.org_id', true), '');
BEGIN
  -- Runs as the owner: never let a request reach another organization's chain head.
  IF scoped IS NOT NULL AND NEW.organization_id IS DISTINCT FROM scoped::uuid THEN
    RAISE EXCEPTION 'audit row for another organization' USING ERRCODE = '42501';
  END IF;
  INSERT INTO public.audit_chain_heads (organization_id, seq, hash)
    VALUES (NEW.organization_id, 0, decode(repeat('00', 32), 'hex'))
    ON CONFLICT (organization_id) DO NOTHING;
  SELECT h.seq, h.hash INTO head FROM public.audit_chain_heads h
    WHERE h.organization_id = NEW.organization_id FOR UPDATE;
  NEW.seq := head.seq + 1;
  NEW.at := clock_timestamp();
  NEW.prev_hash := head.hash;
  NEW.hash := sha256(head.hash || convert_to(concat(
    'bastion-audit-v1',
    public.audit_field(NEW.id::text),
    public.audit_field(NEW.organization_id::text),
    public.audit_field(NEW.seq::text),
    public.audit_field(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
    public.audit_field(NEW.actor_id::text),
    public.audit_field(NEW.action),
    public.audit_field(NEW.target_type),
    public.audit_field(NEW.target_id),
    public.audit_field(NEW.ip),
    public.audit_field(NEW.user_agent),
    public.audit_field(NEW.request_id),
    public.audit_field(NEW.metadata::text)
  ), 'UTF8'));
  UPDATE public.audit_chain_heads SET seq = NEW.seq, hash = NEW.hash
    WHERE organization_id = NEW.organization_id;
  RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION audit_logs_chain() FROM PUBLIC;
CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

-- Security events (failed sign-ins, token reuse, CSRF refusals, bad webhook signatures,
-- rate limiting). The organization is unknown for some (a sign-in for an unknown email):
-- those rows have none and no tenant can read them.
CREATE TABLE security_events (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations(id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
  user_id uuid,
  ip text CHECK (length(ip) <= 64),
  user_agent text CHECK (length(user_agent) <= 512),
  request_id text CHECK (length(request_id) <= 128),
  metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX security_events_org_id_idx ON security_events (organization_id, id DESC);

${tenantIsolation('audit_logs', 'audit_chain_heads', 'security_events')}

-- Read and append only: no UPDATE, DELETE or TRUNCATE, and nothing on the chain heads.
GRANT SELECT, INSERT ON audit_logs TO bastion_app;
GRANT SELECT ON security_events TO bastion_app;

-- Security events are written through this function alone, so that an event whose
-- organization is unknown (or not the request's) is still recorded; reading stays
-- confined to the caller's organization by row-level security.
CREATE FUNCTION record_security_event(
  p_id uuid, p_org uuid, p_type text, p_user uuid, p_ip text, p_user_agent text,
  p_request_id text, p_metadata jsonb
) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  INSERT INTO public.security_events
    (id, organization_id, type, user_id, ip, user_agent, request_id, metadata)
  VALUES (p_id, p_org, p_type, p_user, p_ip, p_user_agent, p_request_id, coalesce(p_metadata, '{}'))
$fn$;
REVOKE ALL ON FUNCTION record_security_event(uuid, uuid, text, uuid, text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_security_event(uuid, uuid, text, uuid, text, text, text, jsonb) TO bastion_app;
`;
