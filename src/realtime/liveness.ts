import { and, eq, not, sql } from 'drizzle-orm';
import { liveAt, mfaPending } from '../auth/sessions.js';
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
    const rows = await db.withOrgRead(orgId, (tx) =>
      tx
        .select({ id: sessions.id })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .innerJoin(organizations, eq(organizations.id, sessions.organizationId))
        .where(
          and(
            eq(sessions.organizationId, orgId),
            // One statement shape whatever the count (statements are prepared per shape).
            sql`${sessions.id} = any(${`{${ids.join(',')}}`}::uuid[])`,
            liveAt(new Date()),
            not(mfaPending),
          ),
        ),
    );
    for (const row of rows) live.add(row.id);
  }
  return live;
}
