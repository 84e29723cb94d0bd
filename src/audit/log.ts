import { sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/client.js';
import { uuidv7 } from '../db/ids.js';
import { assertName, cleanMetadata, optionalText } from './sanitize.js';

/** Who did what, from where: one row of the append-only, hash-chained audit log. */
export interface AuditEntry {
  orgId: string;
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  metadata?: Record<string, unknown>;
}

/** A security-relevant event (failed sign-in, token reuse, CSRF refusal, ...). */
export interface SecurityEvent {
  /** Null when the organization is unknown (e.g. a sign-in attempt for an unknown email). */
  orgId: string | null;
  type: string;
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  metadata?: Record<string, unknown>;
}

/** Column limits of migration 0002_audit. */
export const LIMITS = { targetId: 200, ip: 64, userAgent: 512, requestId: 128 } as const;

const TARGET_TYPE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The audit trail. Rows are only ever appended: the database fills each row's place in its
 * organization's hash chain (seq, at, prev_hash, hash) and refuses the application any
 * UPDATE or DELETE. Metadata is stripped of anything that looks like a credential.
 */
export class AuditLog {
  constructor(readonly db: Database) {}

  /**
   * Appends inside the caller's transaction, so the change and its record commit together.
   * The append locks the organization's chain head until commit: make it the last statement.
   */
  async record(tx: Tx, entry: AuditEntry): Promise<void> {
    assertName('audit action', entry.action);
    if (entry.targetType !== undefined && !TARGET_TYPE.test(entry.targetType)) {
      throw new TypeError(`audit target type must match ${String(TARGET_TYPE)}`);
    }
    // ::text::jsonb: the JSON goes over the wire as text on every driver, never re-encoded.
    await tx.execute(sql`
      insert into audit_logs
        (id, organization_id, actor_id, action, target_type, target_id, ip, user_agent,
         request_id, metadata)
      values (
        ${uuidv7()}::uuid, ${entry.orgId}::uuid, ${entry.actorId}::uuid, ${entry.action},
        ${entry.targetType ?? null}, ${optionalText(entry.targetId, LIMITS.targetId)},
        ${optionalText(entry.ip, LIMITS.ip)}, ${optionalText(entry.userAgent, LIMITS.userAgent)},
        ${optionalText(entry.requestId, LIMITS.requestId)},
        ${cleanMetadata(entry.metadata)}::text::jsonb
      )`);
  }

  /** Written in its own transaction: it must survive the failure it reports. */
  async securityEvent(event: SecurityEvent): Promise<void> {
    assertName('security event type', event.type);
    // Through a SECURITY DEFINER function: the organization may be unknown (or not yet
    // trusted), and row-level security would refuse the row either way.
    await this.db.withoutOrg((tx) =>
      tx.execute(sql`select record_security_event(
        ${uuidv7()}::uuid, ${event.orgId}::uuid, ${event.type}, ${event.userId ?? null}::uuid,
        ${optionalText(event.ip, LIMITS.ip)}, ${optionalText(event.userAgent, LIMITS.userAgent)},
        ${optionalText(event.requestId, LIMITS.requestId)}, ${cleanMetadata(event.metadata)}::text::jsonb
      )`),
    );
  }
}
