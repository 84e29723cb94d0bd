import type { FastifyRequest } from 'fastify';
import { auditEntry, type AuditFields } from '../../audit/request.js';
import { hasRole, principalOf } from '../../auth/guard.js';
import { assertAcceptablePassword, hashPassword } from '../../auth/passwords.js';
import type { AppContext } from '../../context.js';
import type { Tx } from '../../db/client.js';
import { uniqueEmail } from '../../auth/repo.js';
import type { Role } from '../../db/schema.js';
import { AppError, notFound } from '../../security/errors.js';
import * as repo from './repo.js';
import { assertAnotherOwnerRemains, assertMayGrant, assertMayManage } from './rules.js';
import type { UserCreate, UserOut, UserPatch } from './schema.js';

/** Who acts, and the audit entries of what they do to a member. */
export function actorOf(request: FastifyRequest) {
  return {
    ...principalOf(request),
    entry: (fields: Omit<AuditFields, 'targetType'>) =>
      auditEntry(request, { targetType: 'user', ...fields }),
  };
}
type Actor = ReturnType<typeof actorOf>;

/**
 * Locks the organization's membership and re-reads the caller's role from the database: the
 * session's role may be seconds old, and a just-demoted admin must not finish a change.
 */
async function lockedActorRole(tx: Tx, actor: Actor): Promise<Role> {
  await repo.lockOrganization(tx, actor.orgId);
  const me = await repo.get(tx, actor.orgId, actor.userId);
  if (!me) throw new AppError('unauthorized');
  if (!hasRole(me.role, 'admin')) throw new AppError('forbidden');
  return me.role;
}

/** Hashing happens before the transaction: argon2 must not hold the organization's lock. */
async function newHash(password: string | undefined): Promise<string | undefined> {
  if (password === undefined) return undefined;
  assertAcceptablePassword(password);
  return hashPassword(password);
}

export async function createMember(ctx: AppContext, actor: Actor, body: UserCreate) {
  assertMayGrant(actor.role, body.role);
  const passwordHash = (await newHash(body.password))!;
  return uniqueEmail(
    ctx.db.withOrg(actor.orgId, async (tx) => {
      assertMayGrant(await lockedActorRole(tx, actor), body.role);
      const { email, name, role } = body;
      const user = await repo.insert(tx, actor.orgId, { email, name, role, passwordHash });
      const entry = actor.entry({ action: 'user.created', targetId: user.id, metadata: { role } });
      await ctx.audit.record(tx, entry);
      return user;
    }),
  );
}

export async function updateMember(
  ctx: AppContext,
  actor: Actor,
  id: string,
  body: UserPatch,
): Promise<UserOut> {
  const { password, ...fields } = body;
  if (id === actor.userId && (fields.email !== undefined || password !== undefined)) {
    // A stolen session must not rewrite the account's own credentials: those routes ask
    // for the current password (and a code with TOTP on).
    throw new AppError(
      'forbidden',
      'Change your own email or password through /api/v1/auth/email or /api/v1/auth/password',
    );
  }
  if (fields.role) assertMayGrant(actor.role, fields.role);
  const passwordHash = await newHash(password);
  const { before, after } = await uniqueEmail(
    ctx.db.withOrg(actor.orgId, async (tx) => {
      const actorRole = await lockedActorRole(tx, actor);
      const target = await repo.get(tx, actor.orgId, id);
      if (!target) throw notFound();
      assertMayManage(actorRole, target.role);
      if (fields.role) assertMayGrant(actorRole, fields.role);
      if (target.role === 'owner' && fields.role && fields.role !== 'owner') {
        await assertAnotherOwnerRemains(tx, actor.orgId);
      }
      const set = { ...fields, ...(passwordHash ? { passwordHash } : {}) };
      const updated = (await repo.update(tx, actor.orgId, id, set))!;
      await auditChanges(ctx, tx, actor, target, updated, password !== undefined);
      return { before: target, after: updated };
    }),
  );
  // After commit: the next request of this member sees the new role, not a cached one.
  if (before.role !== after.role) await ctx.sessions.forgetUser(id);
  if (passwordHash) {
    // A password set for someone ends every session they hold; one's own keeps this one.
    const keep = id === actor.userId ? actor.sessionId : undefined;
    await ctx.sessions.revokeUser(actor.orgId, id, 'password_changed', keep);
  }
  return after;
}

/** One audit record per kind of change; field names only, never a password or its hash. */
async function auditChanges(
  ctx: AppContext,
  tx: Tx,
  actor: Actor,
  before: UserOut,
  after: UserOut,
  passwordChanged: boolean,
) {
  const record = (action: string, metadata?: Record<string, unknown>) =>
    ctx.audit.record(
      tx,
      actor.entry({ action, targetId: after.id, ...(metadata && { metadata }) }),
    );
  if (before.role !== after.role) {
    await record('user.role_changed', { from: before.role, to: after.role });
  }
  const fields = (['email', 'name'] as const).filter((f) => before[f] !== after[f]);
  if (fields.length > 0) await record('user.updated', { fields });
  if (passwordChanged) await record('user.password_changed');
}

export async function deleteMember(ctx: AppContext, actor: Actor, id: string): Promise<void> {
  await ctx.db.withOrg(actor.orgId, async (tx) => {
    const actorRole = await lockedActorRole(tx, actor);
    const target = await repo.get(tx, actor.orgId, id);
    if (!target) throw notFound();
    assertMayManage(actorRole, target.role);
    if (target.role === 'owner') await assertAnotherOwnerRemains(tx, actor.orgId);
    await repo.remove(tx, actor.orgId, id);
    const entry = actor.entry({
      action: 'user.deleted',
      targetId: id,
      metadata: { role: target.role },
    });
    await ctx.audit.record(tx, entry);
  });
  // Their sessions go with the row (ON DELETE CASCADE); this also drops cached checks so a
  // token already in flight is refused on the very next request.
  await ctx.sessions.revokeUser(actor.orgId, id, 'user_deleted');
}
