import { and, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { users } from '../../db/schema.js';
import { mfaChallenges, mfaRecoveryCodes, userTotp } from '../../db/schema/mfa.js';

/** Every query names the organization as well: RLS is the second guard, not the first. */
const ofUser = (orgId: string, userId: string) =>
  and(eq(userTotp.organizationId, orgId), eq(userTotp.userId, userId));

/** The user's TOTP row, locked so concurrent sign-ins cannot both spend one time step. */
export async function lockTotp(tx: Tx, orgId: string, userId: string) {
  const [row] = await tx.select().from(userTotp).where(ofUser(orgId, userId)).for('update');
  return row;
}

/** Whether the user has a confirmed second factor. */
export async function isEnrolled(tx: Tx, orgId: string, userId: string): Promise<boolean> {
  const [row] = await tx
    .select({ userId: userTotp.userId })
    .from(userTotp)
    .where(and(ofUser(orgId, userId), isNotNull(userTotp.secret)));
  return row !== undefined;
}

export async function savePendingSecret(tx: Tx, orgId: string, userId: string, pending: string) {
  await tx
    .insert(userTotp)
    .values({ userId, organizationId: orgId, pendingSecret: pending })
    .onConflictDoUpdate({
      target: userTotp.userId,
      set: { pendingSecret: pending, updatedAt: new Date() },
      setWhere: eq(userTotp.organizationId, orgId),
    });
}

export async function activateSecret(
  tx: Tx,
  orgId: string,
  userId: string,
  secret: string,
  step: number,
) {
  await tx
    .update(userTotp)
    .set({ secret, pendingSecret: null, lastUsedStep: step, updatedAt: new Date() })
    .where(ofUser(orgId, userId));
}

/** Records a step as used; false when it (or a later one) already was: a replay. */
export async function spendStep(tx: Tx, orgId: string, userId: string, step: number) {
  const spent = await tx
    .update(userTotp)
    .set({ lastUsedStep: step })
    .where(
      and(
        ofUser(orgId, userId),
        or(isNull(userTotp.lastUsedStep), lt(userTotp.lastUsedStep, step)),
      ),
    )
    .returning({ userId: userTotp.userId });
  return spent.length === 1;
}

export async function setMfaEnabled(tx: Tx, orgId: string, userId: string, enabled: boolean) {
  await tx
    .update(users)
    .set({ mfaEnabled: enabled, updatedAt: new Date() })
    .where(and(eq(users.organizationId, orgId), eq(users.id, userId)));
}

export async function replaceRecoveryCodes(
  tx: Tx,
  orgId: string,
  userId: string,
  hashes: Buffer[],
) {
  await deleteRecoveryCodes(tx, orgId, userId);
  await tx
    .insert(mfaRecoveryCodes)
    .values(hashes.map((codeHash) => ({ codeHash, organizationId: orgId, userId })));
}

export async function deleteRecoveryCodes(tx: Tx, orgId: string, userId: string) {
  await tx
    .delete(mfaRecoveryCodes)
    .where(and(eq(mfaRecoveryCodes.organizationId, orgId), eq(mfaRecoveryCodes.userId, userId)));
}

export async function unusedRecoveryHashes(tx: Tx, orgId: string, userId: string) {
  const found = await tx
    .select({ hash: mfaRecoveryCodes.codeHash })
    .from(mfaRecoveryCodes)
    .where(
      and(
        eq(mfaRecoveryCodes.organizationId, orgId),
        eq(mfaRecoveryCodes.userId, userId),
        isNull(mfaRecoveryCodes.usedAt),
      ),
    );
  return found.map((r) => r.hash);
}

/** Marks a recovery code used; false when a concurrent request spent it first. */
export async function spendRecoveryCode(tx: Tx, orgId: string, hash: Buffer) {
  const spent = await tx
    .update(mfaRecoveryCodes)
    .set({ usedAt: new Date() })
    .where(
      and(
        eq(mfaRecoveryCodes.organizationId, orgId),
        eq(mfaRecoveryCodes.codeHash, hash),
        isNull(mfaRecoveryCodes.usedAt),
      ),
    )
    .returning({ hash: mfaRecoveryCodes.codeHash });
  return spent.length === 1;
}

/** Turning MFA off leaves nothing behind: secret, recovery codes, open challenges. */
export async function deleteEnrolment(tx: Tx, orgId: string, userId: string) {
  await tx.delete(userTotp).where(ofUser(orgId, userId));
  await deleteRecoveryCodes(tx, orgId, userId);
  await tx
    .delete(mfaChallenges)
    .where(and(eq(mfaChallenges.organizationId, orgId), eq(mfaChallenges.userId, userId)));
}

export async function passwordHashOf(tx: Tx, orgId: string, userId: string) {
  const [row] = await tx
    .select({ hash: users.passwordHash, email: users.email })
    .from(users)
    .where(and(eq(users.organizationId, orgId), eq(users.id, userId)));
  return row;
}
