import type { FastifyRequest } from 'fastify';
import type { AuditEntry, AuditLog, SecurityEvent } from './log.js';

/** Where a request came from, as the audit trail records it. */
export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
  requestId: string;
}

/**
 * request.ip honours X-Forwarded-For only under TRUST_PROXY (app.ts), so a client cannot
 * write someone else's address into the log.
 */
export function requestOrigin(request: FastifyRequest): RequestOrigin {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null, requestId: request.id };
}

export interface AuditFields {
  action: string;
  targetType?: string;
  targetId?: string | null;
  metadata?: Record<string, unknown>;
  /** Defaults to the signed-in principal's organization (e.g. give it at sign-in). */
  orgId?: string;
  /** Defaults to the signed-in principal's user; null for actions of no user. */
  actorId?: string | null;
}

/**
 * An audit entry for what this request did: organization and actor from the verified
 * credential (never from the body), plus ip, user agent and request id.
 */
export function auditEntry(request: FastifyRequest, fields: AuditFields): AuditEntry {
  const { orgId, actorId, ...rest } = fields;
  const org = orgId ?? request.principal?.orgId ?? request.apiKey?.orgId;
  if (!org) throw new Error('auditEntry: no organization (no principal and none given)');
  return {
    ...rest,
    orgId: org,
    actorId:
      actorId === undefined
        ? (request.principal?.userId ?? request.apiKey?.createdBy ?? null)
        : actorId,
    ...requestOrigin(request),
    // "via", not "apiKeyId": metadata keys naming keys or tokens are stripped as secrets.
    ...(request.apiKey
      ? { metadata: { ...rest.metadata, via: 'api_key', viaId: request.apiKey.keyId } }
      : {}),
  };
}

export interface SecurityFields {
  type: string;
  /** Defaults to the principal's organization, else unknown (null). */
  orgId?: string | null;
  userId?: string | null;
  metadata?: Record<string, unknown>;
}

/** A security event for this request, with its ip, user agent and request id. */
export function securityEventFrom(request: FastifyRequest, fields: SecurityFields): SecurityEvent {
  const { orgId, userId, ...rest } = fields;
  return {
    ...rest,
    orgId: orgId === undefined ? (request.principal?.orgId ?? null) : orgId,
    userId: userId === undefined ? (request.principal?.userId ?? null) : userId,
    ...requestOrigin(request),
  };
}

/**
 * Records the security event of a refusal (a forged request, a spent budget, a bad
 * signature). Best effort: the refusal stands even when the event store is down, and a
 * failing store must never turn a 403 or 429 into a 500.
 */
export async function recordRefusal(
  audit: AuditLog,
  request: FastifyRequest,
  fields: SecurityFields,
): Promise<void> {
  await audit
    .securityEvent(securityEventFrom(request, fields))
    .catch((err: unknown) => request.log.warn({ err }, 'security event not recorded'));
}
