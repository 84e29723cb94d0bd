import { and, eq, gt, inArray, isNull, not, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { organizations, sessions, users } from '../db/schema.js';

/** Keeps each statement's parameter list (and its prepared-statement shape) bounded. */
const CHUNK = 200;

/**
 * Which of these sessions of one organization may still hold a socket: not revoked, inside
 * both lifetimes, and not held back by an MFA requirement the member has not met. Read
 * from the database, never from SessionService's cache: the cache may trust a session for
 * a few seconds after it expired or was revoked on an instance whose announcement was lost.
 */
export async function liveSessions(
  db: Database,
  orgId: string,
  sessionIds: readonly string[],
): Promise<Set<string>> {
  const live = new Set<string>();
  for (let i = 0; i < sessionIds.length; i += CHUNK) {
    const ids = sessionIds.slice(i, i + CHUNK);
    const now = new Date();
    const rows = await db.withOrgRead(orgId, (tx) =>
      tx
        .select({ id: sessions.id })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .innerJoin(organizations, eq(organizations.id, sessions.organizationId))
        .where(
          and(
            eq(sessions.organizationId, orgId),
            inArray(sessions.id, ids),
            isNull(sessions.revokedAt),
            gt(sessions.expiresAt, now),
            gt(sessions.idleExpiresAt, now),
            not(sql`(${organizations.requireMfa} and not ${users.mfaEnabled})`),
          ),
        ),
    );
    for (const row of rows) live.add(row.id);
  }
  return live;
}
