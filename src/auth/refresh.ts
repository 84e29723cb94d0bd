import { and, eq, isNull, sql } from 'drizzle-orm';
import { rows, type Database } from '../db/client.js';
import { refreshTokens, sessions } from '../db/schema.js';
import type { SessionLifetimes } from './sessions.js';
import { newRefreshToken, sha256 } from './tokens.js';

export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; orgId: string; sessionId: string; refreshToken: string }
  | { kind: 'reused'; userId: string; orgId: string; sessionId: string }
  | { kind: 'invalid' };

/**
 * Refresh-token rotation with reuse detection (RFC 9700 4.14.2). Marking the presented
 * token used is one conditional UPDATE, so of concurrent refreshes with one token exactly
 * one wins; a token that exists but was already used means two parties hold it (one of
 * them a thief), and the caller revokes the whole session.
 */
export async function rotateRefreshToken(
  db: Database,
  token: string,
  ttl: SessionLifetimes,
): Promise<RefreshOutcome> {
  const hash = sha256(token);
  const [owner] = await db.withoutOrg((tx) =>
    rows<{ session_id: string; organization_id: string }>(
      tx,
      sql`select session_id, organization_id from auth_session_by_refresh_hash(${hash})`,
    ),
  );
  if (!owner) return { kind: 'invalid' };
  return db.withOrg(owner.organization_id, async (tx) => {
    const now = new Date();
    const [won] = await tx
      .update(refreshTokens)
      .set({ usedAt: now })
      .where(and(eq(refreshTokens.tokenHash, hash), isNull(refreshTokens.usedAt)))
      .returning({ sessionId: refreshTokens.sessionId });
    const [session] = await tx.select().from(sessions).where(eq(sessions.id, owner.session_id));
    if (!session) return { kind: 'invalid' };
    const ids = { userId: session.userId, orgId: session.organizationId, sessionId: session.id };
    if (!won) return { kind: 'reused', ...ids };
    const live = !session.revokedAt && session.expiresAt > now && session.idleExpiresAt > now;
    if (!live) return { kind: 'invalid' };
    const next = newRefreshToken();
    await tx.insert(refreshTokens).values({
      tokenHash: next.hash,
      organizationId: session.organizationId,
      sessionId: session.id,
      createdAt: now,
    });
    const idle = new Date(
      Math.min(now.getTime() + ttl.idleTtlSeconds * 1000, session.expiresAt.getTime()),
    );
    await tx
      .update(sessions)
      .set({ lastUsedAt: now, idleExpiresAt: idle })
      .where(eq(sessions.id, session.id));
    return { kind: 'rotated', ...ids, refreshToken: next.token };
  });
}
