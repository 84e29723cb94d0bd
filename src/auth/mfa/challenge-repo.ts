import { and, eq, gt, lt, sql } from 'drizzle-orm';
import { rows, type Tx } from '../../db/client.js';
import { mfaChallenges } from '../../db/schema/mfa.js';

/** The open second steps of sign-in (one row per password that was right). */

/** Pre-auth (SECURITY DEFINER): the organization of an open challenge, nothing more. */
export async function challengeOrg(tx: Tx, hash: Buffer): Promise<string | undefined> {
  const [row] = await rows<{ organization_id: string }>(
    tx,
    sql`select organization_id from auth_mfa_challenge_org(${hash})`,
  );
  return row?.organization_id;
}

export async function insertChallenge(
  tx: Tx,
  c: { orgId: string; userId: string; hash: Buffer; expiresAt: Date },
) {
  await tx.insert(mfaChallenges).values({
    tokenHash: c.hash,
    organizationId: c.orgId,
    userId: c.userId,
    expiresAt: c.expiresAt,
  });
}

/** Challenges of the user older than a day are only clutter by now. */
export async function pruneChallenges(tx: Tx, orgId: string, userId: string, before: Date) {
  await tx
    .delete(mfaChallenges)
    .where(
      and(
        eq(mfaChallenges.organizationId, orgId),
        eq(mfaChallenges.userId, userId),
        lt(mfaChallenges.createdAt, before),
      ),
    );
}

export async function lockChallenge(tx: Tx, orgId: string, hash: Buffer) {
  const [row] = await tx
    .select()
    .from(mfaChallenges)
    .where(and(eq(mfaChallenges.organizationId, orgId), eq(mfaChallenges.tokenHash, hash)))
    .for('update');
  return row;
}

/** Wrong codes of the user across all challenges since `since`, and when the first was. */
export async function failuresSince(tx: Tx, orgId: string, userId: string, since: Date) {
  const [row] = await tx
    .select({
      failures: sql<number>`coalesce(sum(${mfaChallenges.failures}), 0)::int`,
      oldest: sql<
        Date | string | null
      >`min(${mfaChallenges.createdAt}) filter (where ${mfaChallenges.failures} > 0)`,
    })
    .from(mfaChallenges)
    .where(
      and(
        eq(mfaChallenges.organizationId, orgId),
        eq(mfaChallenges.userId, userId),
        gt(mfaChallenges.createdAt, since),
      ),
    );
  return {
    failures: Number(row?.failures ?? 0),
    oldest: row?.oldest ? new Date(row.oldest) : null,
  };
}

export async function countFailure(tx: Tx, orgId: string, hash: Buffer): Promise<number> {
  const [row] = await tx
    .update(mfaChallenges)
    .set({ failures: sql`${mfaChallenges.failures} + 1` })
    .where(and(eq(mfaChallenges.organizationId, orgId), eq(mfaChallenges.tokenHash, hash)))
    .returning({ failures: mfaChallenges.failures });
  return row?.failures ?? 0;
}

export async function completeChallenge(tx: Tx, orgId: string, hash: Buffer) {
  await tx
    .update(mfaChallenges)
    .set({ completedAt: new Date() })
    .where(and(eq(mfaChallenges.organizationId, orgId), eq(mfaChallenges.tokenHash, hash)));
}
