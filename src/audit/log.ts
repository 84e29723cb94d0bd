import type { Database, Tx } from '../db/client.js';

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

/** The audit trail. Records are written but not yet stored: the audit work builds storage. */
export class AuditLog {
  constructor(readonly db: Database) {}

  /** Appends inside the caller's transaction, so the change and its record commit together. */
  async record(_tx: Tx, _entry: AuditEntry): Promise<void> {}

  /** Written in its own transaction: it must survive the failure it reports. */
  async securityEvent(_event: SecurityEvent): Promise<void> {}
}
