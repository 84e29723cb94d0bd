import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { auditLogs, securityEvents } from '../../db/schema/audit.js';
import type { AuditLogOut, ListQuery, SecurityEventOut } from './schema.js';

/**
 * Reads of the audit tables, newest first (uuidv7 ids are time-ordered). They run inside
 * withOrg: the organization condition is the first guard, row-level security the last.
 * The chain columns (seq, hashes) are for `bastion audit verify`, not for clients.
 */
export async function listAuditLogs(
  tx: Tx,
  orgId: string,
  q: ListQuery & { action?: string | undefined },
): Promise<AuditLogOut[]> {
  const where: (SQL | undefined)[] = [eq(auditLogs.organizationId, orgId)];
  if (q.cursor) where.push(lt(auditLogs.id, q.cursor));
  if (q.action) where.push(eq(auditLogs.action, q.action));
  const rows = await tx
    .select({
      id: auditLogs.id,
      at: auditLogs.at,
      actorId: auditLogs.actorId,
      action: auditLogs.action,
      targetType: auditLogs.targetType,
      targetId: auditLogs.targetId,
      ip: auditLogs.ip,
      userAgent: auditLogs.userAgent,
      requestId: auditLogs.requestId,
      metadata: auditLogs.metadata,
    })
    .from(auditLogs)
    .where(and(...where))
    .orderBy(desc(auditLogs.id))
    .limit(q.limit + 1);
  return rows.map((r) => ({
    id: r.id,
    at: r.at.toISOString(),
    actor: r.actorId,
    action: r.action,
    target: r.targetType === null ? null : { type: r.targetType, id: r.targetId },
    ip: r.ip,
    userAgent: r.userAgent,
    requestId: r.requestId,
    metadata: r.metadata,
  }));
}

export async function listSecurityEvents(
  tx: Tx,
  orgId: string,
  q: ListQuery & { type?: string | undefined },
): Promise<SecurityEventOut[]> {
  const where: (SQL | undefined)[] = [eq(securityEvents.organizationId, orgId)];
  if (q.cursor) where.push(lt(securityEvents.id, q.cursor));
  if (q.type) where.push(eq(securityEvents.type, q.type));
  const rows = await tx
    .select({
      id: securityEvents.id,
      at: securityEvents.at,
      type: securityEvents.type,
      userId: securityEvents.userId,
      ip: securityEvents.ip,
      userAgent: securityEvents.userAgent,
      requestId: securityEvents.requestId,
      metadata: securityEvents.metadata,
    })
    .from(securityEvents)
    .where(and(...where))
    .orderBy(desc(securityEvents.id))
    .limit(q.limit + 1);
  return rows.map((r) => ({ ...r, at: r.at.toISOString() }));
}
