import { tenantIsolation } from './rls.js';

export default /* sql */ `
-- Composite foreign keys below name (organization_id, id): a row can only point at a row
-- of its own organization. Foreign key checks bypass row-level security, so without
-- this a bug passing another organization's id would link across tenants.
ALTER TABLE customers ADD CONSTRAINT customers_org_id_key UNIQUE (organization_id, id);

-- Channels (CONTRACT section 7): a WhatsApp Cloud API number or a commerce store. Their
-- secrets are keyring-encrypted (AES-256-GCM, associated data orgId|channels.<column>);
-- deleting a channel keeps the row for its conversations and audit trail but erases the
-- secrets, so a deleted channel can neither send nor accept a webhook.
CREATE TABLE channels (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type IN ('whatsapp', 'commerce')),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  phone_number_id text CHECK (phone_number_id ~ '^[0-9]{1,32}$'),
  access_token text,
  app_secret text,
  verify_token text,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CHECK (type <> 'whatsapp' OR phone_number_id IS NOT NULL),
  CONSTRAINT channels_org_id_key UNIQUE (organization_id, id)
);
CREATE INDEX channels_org_idx ON channels (organization_id, id DESC);
CREATE UNIQUE INDEX channels_org_phone_key ON channels (organization_id, phone_number_id)
  WHERE deleted_at IS NULL;

-- Every webhook delivery, signed or not (the webhook log). A validly signed one keeps its
-- raw body until processed: the row is committed before the 200, so an acknowledged
-- delivery survives a crash and is processed from here. Bad signatures keep no body: an
-- unauthenticated sender must not be able to fill the database.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  channel_id uuid NOT NULL,
  source text NOT NULL CHECK (source IN ('whatsapp', 'commerce')),
  received_at timestamptz NOT NULL DEFAULT now(),
  outcome text NOT NULL CHECK (outcome IN
    ('pending', 'processed', 'dropped', 'invalid_signature', 'invalid_payload', 'failed')),
  status_code integer NOT NULL,
  size_bytes integer NOT NULL CHECK (size_bytes >= 0),
  topic text CHECK (length(topic) <= 100),
  body bytea,
  detail text CHECK (length(detail) <= 500),
  request_id text CHECK (length(request_id) <= 128),
  processed_at timestamptz,
  FOREIGN KEY (organization_id, channel_id) REFERENCES channels (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_org_idx ON webhook_deliveries (organization_id, id DESC);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (received_at)
  WHERE outcome = 'pending';

-- One conversation per customer and channel.
CREATE TABLE conversations (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  customer_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  last_message_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT conversations_customer_channel_key UNIQUE (organization_id, customer_id, channel_id),
  CONSTRAINT conversations_org_id_key UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, customer_id) REFERENCES customers (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, channel_id) REFERENCES channels (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_org_idx ON conversations (organization_id, id DESC);

-- Messages both ways. wa_message_id is WhatsApp's id: unique per channel, so an inbound
-- message Meta delivers twice (it retries for days) is stored once. Outbound rows are the
-- send queue's durable truth: status 'queued' until the worker hands them to the Graph API.
CREATE TABLE messages (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  type text NOT NULL CHECK (type ~ '^[a-z_]{1,32}$'),
  body text CHECK (length(body) <= 65536),
  media_id text CHECK (length(media_id) <= 256),
  media_mime_type text CHECK (length(media_mime_type) <= 255),
  caption text CHECK (length(caption) <= 65536),
  wa_message_id text CHECK (length(wa_message_id) <= 256),
  -- Outbound: the number it is addressed to, fixed when queued (a later edit of the
  -- customer's phone must not redirect a message already written).
  recipient text CHECK (recipient ~ '^\\+[1-9][0-9]{6,14}$'),
  status text NOT NULL CHECK (status IN
    ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
  error jsonb,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  locked_until timestamptz,
  sent_by uuid REFERENCES users(id) ON DELETE SET NULL,
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, conversation_id)
    REFERENCES conversations (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, channel_id) REFERENCES channels (organization_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX messages_channel_wa_id_key ON messages (organization_id, channel_id, wa_message_id);
CREATE INDEX messages_conversation_idx ON messages (organization_id, conversation_id, id DESC);
CREATE INDEX messages_outbox_idx ON messages (next_attempt_at)
  WHERE status IN ('queued', 'sending');

-- Statuses Meta reported before the message's WhatsApp id was known here: "sent" can
-- arrive before the send worker has stored the id the Graph API answered with. Applied
-- by apply_early_statuses() once the message has its id; forgotten after a day (statuses
-- of messages sent from outside Bastion never match).
CREATE TABLE early_statuses (
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  channel_id uuid NOT NULL,
  wa_message_id text NOT NULL CHECK (length(wa_message_id) <= 256),
  status text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
  error jsonb,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, channel_id, wa_message_id, status),
  FOREIGN KEY (organization_id, channel_id) REFERENCES channels (organization_id, id) ON DELETE CASCADE
);

-- Statuses only move forward; this is their order.
CREATE FUNCTION message_status_rank(s text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT CASE s WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
    WHEN 'failed' THEN 3 WHEN 'delivered' THEN 4 WHEN 'read' THEN 5 ELSE 6 END
$fn$;

-- A customer's timeline: orders from a commerce channel (and later other events).
-- source_key makes a redelivered event a no-op.
CREATE TABLE customer_events (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  customer_id uuid NOT NULL,
  channel_id uuid,
  type text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
  source_key text NOT NULL CHECK (length(source_key) <= 300),
  occurred_at timestamptz NOT NULL,
  data jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT customer_events_source_key UNIQUE (organization_id, source_key),
  FOREIGN KEY (organization_id, customer_id) REFERENCES customers (organization_id, id) ON DELETE CASCADE,
  -- Channels are never hard-deleted (a deletion erases credentials and keeps the row).
  FOREIGN KEY (organization_id, channel_id) REFERENCES channels (organization_id, id)
);
CREATE INDEX customer_events_customer_idx ON customer_events (organization_id, customer_id, id DESC);

${tenantIsolation('channels', 'webhook_deliveries', 'conversations', 'messages', 'customer_events', 'early_statuses')}
GRANT SELECT, INSERT, DELETE ON early_statuses TO bastion_app;
GRANT SELECT, INSERT, UPDATE ON channels TO bastion_app;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO bastion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON conversations, messages, customer_events TO bastion_app;

-- Pre-auth: the channel a webhook names, with its (still encrypted) secrets, and nothing
-- else. Deleted channels are not found.
CREATE FUNCTION webhook_channel(p_id uuid)
RETURNS TABLE (organization_id uuid, type text, phone_number_id text, app_secret text,
               verify_token text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT c.organization_id, c.type, c.phone_number_id, c.app_secret, c.verify_token
  FROM public.channels c WHERE c.id = p_id AND c.deleted_at IS NULL
$fn$;
REVOKE ALL ON FUNCTION webhook_channel(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_channel(uuid) TO bastion_app;

-- Background work across organizations (crash recovery): ids and organizations of
-- deliveries not yet processed, and of outbound messages due for a send attempt. Each is
-- then handled inside its own organization through withOrg.
CREATE FUNCTION pending_webhook_deliveries(p_older_than interval, p_limit integer)
RETURNS TABLE (id uuid, organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT d.id, d.organization_id FROM public.webhook_deliveries d
  WHERE d.outcome = 'pending' AND d.received_at < now() - p_older_than
  ORDER BY d.received_at LIMIT p_limit
$fn$;
REVOKE ALL ON FUNCTION pending_webhook_deliveries(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pending_webhook_deliveries(interval, integer) TO bastion_app;

CREATE FUNCTION due_outbound_messages(p_limit integer)
RETURNS TABLE (id uuid, organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT m.id, m.organization_id FROM public.messages m
  WHERE (m.status = 'queued' AND m.next_attempt_at <= now())
     OR (m.status = 'sending' AND m.locked_until < now())
  ORDER BY m.next_attempt_at LIMIT p_limit
$fn$;
REVOKE ALL ON FUNCTION due_outbound_messages(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION due_outbound_messages(integer) TO bastion_app;

-- Background work across organizations: applies each early status to its message once
-- the message has its WhatsApp id (same organization, channel and id, forward only),
-- drops the early statuses whose message is known, and those older than a day. Returns
-- the messages it moved, for the realtime announcement.
CREATE FUNCTION apply_early_statuses()
RETURNS TABLE (organization_id uuid, message_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  RETURN QUERY
  WITH best AS (
    SELECT DISTINCT ON (e.organization_id, e.channel_id, e.wa_message_id)
      e.organization_id, e.channel_id, e.wa_message_id, e.status, e.error
    FROM public.early_statuses e
    ORDER BY e.organization_id, e.channel_id, e.wa_message_id,
      public.message_status_rank(e.status) DESC
  ), applied AS (
    UPDATE public.messages m
    SET status = b.status, error = coalesce(b.error, m.error), updated_at = now()
    FROM best b
    WHERE m.organization_id = b.organization_id AND m.channel_id = b.channel_id
      AND m.wa_message_id = b.wa_message_id AND m.direction = 'outbound'
      AND public.message_status_rank(m.status) < public.message_status_rank(b.status)
    RETURNING m.organization_id, m.id
  ), known AS (
    DELETE FROM public.early_statuses e USING public.messages m
    WHERE m.organization_id = e.organization_id AND m.channel_id = e.channel_id
      AND m.wa_message_id = e.wa_message_id
  )
  SELECT a.organization_id, a.id FROM applied a;
  DELETE FROM public.early_statuses e WHERE e.received_at < now() - interval '1 day';
END
$fn$;
REVOKE ALL ON FUNCTION apply_early_statuses() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION apply_early_statuses() TO bastion_app;
`;
