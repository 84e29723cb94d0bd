/**
 * Drizzle's view of the audit tables of migration 0002_audit. Rows are appended through
 * AuditLog (src/audit/log.ts): the chain columns (seq, at, prev_hash, hash) are filled by a
 * database trigger, and security events are written by a SECURITY DEFINER function.
 */
import { bigint, customType, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const auditLogs = pgTable('audit_logs', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  at: ts('at').notNull(),
  actorId: uuid('actor_id'),
  action: text('action').notNull(),
  targetType: text('target_type'),
  targetId: text('target_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  requestId: text('request_id'),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
  prevHash: bytea('prev_hash').notNull(),
  hash: bytea('hash').notNull(),
});

export const securityEvents = pgTable('security_events', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id'),
  at: ts('at').notNull(),
  type: text('type').notNull(),
  userId: uuid('user_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  requestId: text('request_id'),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
});
