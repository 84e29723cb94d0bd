import { z } from 'zod';
import { listQuery, page, timestamp } from '../../http/schemas.js';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_.]{0,63}$/, 'must be an event name like customer.created');
const metadata = z.record(z.string(), z.unknown());

export const auditListQuery = listQuery.extend({ action: name.optional() });
export const securityListQuery = listQuery.extend({ type: name.optional() });

export const auditLogOut = z.object({
  id: z.uuid(),
  at: timestamp,
  /** The user who acted, or null (the system, or a user since deleted). */
  actor: z.uuid().nullable(),
  action: z.string(),
  target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  metadata,
});

export const securityEventOut = z.object({
  id: z.uuid(),
  at: timestamp,
  type: z.string(),
  userId: z.uuid().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  metadata,
});

export const auditLogPage = page(auditLogOut);
export const securityEventPage = page(securityEventOut);

export type AuditLogOut = z.infer<typeof auditLogOut>;
export type SecurityEventOut = z.infer<typeof securityEventOut>;
export interface ListQuery {
  limit: number;
  cursor?: string | undefined;
}
