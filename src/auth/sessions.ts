import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { Database, Tx } from '../db/client.js';
import type { Bus } from '../infra/pubsub.js';
import { uuidv7 } from '../db/ids.js';
import { organizations, refreshTokens, sessions, users, type Role } from '../db/schema.js';
import { newRefreshToken } from './tokens.js';

export interface Principal {
  userId: string;
  orgId: string;
  sessionId: string;
  role: Role;
  /** The organization requires a second factor and this member has none yet. */
  mfaPending: boolean;
}

export interface SessionLifetimes {
  idleTtlSeconds: number;
  absoluteTtlSeconds: number;
}

export interface NewSession {
  sessionId: string;
  refreshToken: string;
  expiresAt: Date;
}

const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

/** Starts a session and its first refresh token. Called on every sign-in: never reused. */
export async function createSession(
  tx: Tx,
  input: { orgId: string; userId: string; ip: string; userAgent: string | undefined },
  ttl: SessionLifetimes,
): Promise<NewSession> {
  const now = new Date();
  const sessionId = uuidv7();
  const expiresAt = addSeconds(now, ttl.absoluteTtlSeconds);
  await tx.insert(sessions).values({
    id: sessionId,
    organizationId: input.orgId,
    userId: input.userId,
    createdAt: now,
    lastUsedAt: now,
    idleExpiresAt: addSeconds(now, ttl.idleTtlSeconds),
    expiresAt,
    ip: input.ip,
    userAgent: input.userAgent?.slice(0, 512) ?? null,
  });
  const refresh = newRefreshToken();
  await tx.insert(refreshTokens).values({
    tokenHash: refresh.hash,
    organizationId: input.orgId,
    sessionId,
    createdAt: now,
  });
  return { sessionId, refreshToken: refresh.token, expiresAt };
}

/** A live session: not revoked, inside both its idle and absolute lifetimes. */
export const liveAt = (now: Date) =>
  and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.idleExpiresAt, now));

/** The organization requires MFA and this member has not enrolled (joined users, organizations). */
export const mfaPending = sql<boolean>`(${organizations.requireMfa} and not ${users.mfaEnabled})`;

async function loadLive(tx: Tx, sessionId: string, userId: string) {
  const [row] = await tx
    .select({ role: users.role, lastUsedAt: sessions.lastUsedAt, mfaPending })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(organizations, eq(organizations.id, sessions.organizationId))
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), liveAt(new Date())));
  return row;
}

/** How long a positive session check is trusted before the database is asked again. */
const CACHE_TTL_MS = 5_000;
/** How stale last_used_at may get before a request refreshes it (and the idle deadline). */
const TOUCH_AFTER_MS = 60_000;
const CACHE_MAX = 50_000;

/** Revocations travel on this channel so every instance drops its cached checks at once. */
export const REVOCATIONS_CHANNEL = 'bastion:sessions:revoked';
export type Revocation = { session: string } | { user: string } | { organization: string };

/**
 * Checks on every request that the token's session is still live. Positive answers are
 * cached for a few seconds; a revocation drops the entry here and, over the bus (Redis
 * pub/sub when configured), on every other instance, so logout, "sign out other devices"
 * and a role change act on the very next request everywhere.
 */
export class SessionService {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /**
   * Sessions found dead (revoked or expired), until the token that asked expires. Nothing
   * brings a dead session back, so this needs no invalidation; it keeps a flood of revoked
   * tokens from costing a database lookup each.
   */
  private readonly dead = new Map<string, number>();
  /** Told of every member whose role or membership changed, here or on another instance. */
  private readonly userChanged: ((userId: string) => void)[] = [];
  /**
   * Bumped by every revocation seen here. A check that read the database while one arrived
   * may have read the row before the revocation committed: its answer is used once but
   * not cached, so it cannot outlive the revocation.
   */
  private epoch = 0;

  constructor(
    private readonly db: Database,
    private readonly ttl: SessionLifetimes,
    private readonly bus: Bus,
    private readonly onBusError: (err: unknown) => void = () => {},
  ) {}

  /** Listens for other instances' revocations. */
  async start(): Promise<void> {
    await this.bus.subscribe(REVOCATIONS_CHANNEL, (message) => {
      try {
        const r = JSON.parse(message) as Revocation;
        if ('session' in r) this.dropSession(r.session);
        else if ('user' in r) this.dropUser(r.user);
        else this.drop((p) => p.orgId === r.organization);
      } catch (err) {
        this.onBusError(err);
      }
    });
  }

  async principal(claims: {
    userId: string;
    orgId: string;
    sessionId: string;
    /** When the presented token expires: how long a dead answer may be remembered. */
    expiresAt: number;
  }): Promise<Principal | null> {
    const hit = this.cache.get(claims.sessionId);
    const now = Date.now();
    const deadUntil = this.dead.get(claims.sessionId);
    if (deadUntil !== undefined) {
      if (deadUntil > now) return null;
      this.dead.delete(claims.sessionId);
    }
    if (
      hit &&
      hit.until > now &&
      hit.principal.userId === claims.userId &&
      hit.principal.orgId === claims.orgId
    ) {
      return hit.principal;
    }
    const epoch = this.epoch;
    const { userId, orgId, sessionId } = claims;
    const principal = await this.db.withOrg(orgId, async (tx) => {
      const live = await loadLive(tx, claims.sessionId, claims.userId);
      if (!live) return null;
      if (now - live.lastUsedAt.getTime() > TOUCH_AFTER_MS) {
        await tx
          .update(sessions)
          .set({
            lastUsedAt: new Date(now),
            idleExpiresAt: addSeconds(new Date(now), this.ttl.idleTtlSeconds),
          })
          .where(eq(sessions.id, claims.sessionId));
      }
      return { userId, orgId, sessionId, role: live.role, mfaPending: live.mfaPending };
    });
    if (!principal) {
      this.cache.delete(claims.sessionId);
      if (this.dead.size >= CACHE_MAX) this.dead.delete(this.dead.keys().next().value!);
      this.dead.set(claims.sessionId, claims.expiresAt);
      return null;
    }
    if (epoch !== this.epoch) return principal;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(claims.sessionId, { principal, until: now + CACHE_TTL_MS });
    return principal;
  }

  private drop(which: (p: Principal) => boolean): void {
    this.epoch++;
    for (const [sid, entry] of this.cache) if (which(entry.principal)) this.cache.delete(sid);
  }

  private dropUser(userId: string): void {
    this.drop((p) => p.userId === userId);
    for (const listener of this.userChanged) listener(userId);
  }

  /** Calls `listener` whenever a member's cached rights must be forgotten (e.g. API keys). */
  onUserChanged(listener: (userId: string) => void): void {
    this.userChanged.push(listener);
  }

  private dropSession(sessionId: string): void {
    this.epoch++;
    this.cache.delete(sessionId);
  }

  /** The revocation is already in the database; the bus only makes it immediate elsewhere. */
  private async announce(r: Revocation): Promise<void> {
    await this.bus.publish(REVOCATIONS_CHANNEL, JSON.stringify(r)).catch(this.onBusError);
  }

  /** Drops cached checks of a user's sessions, so a role change applies to the next request. */
  async forgetUser(userId: string): Promise<void> {
    this.dropUser(userId);
    await this.announce({ user: userId });
  }

  /** The same for every member, after an organization-wide policy change (requireMfa). */
  async forgetOrganization(orgId: string): Promise<void> {
    this.drop((p) => p.orgId === orgId);
    await this.announce({ organization: orgId });
  }

  /** Revokes every live session of a user (but `keep`, if given); returns how many. */
  async revokeUser(orgId: string, userId: string, reason: string, keep?: string): Promise<number> {
    const revoked = await this.db.withOrg(orgId, (tx) =>
      tx
        .update(sessions)
        .set({ revokedAt: new Date(), revokedReason: reason })
        .where(
          and(
            eq(sessions.userId, userId),
            isNull(sessions.revokedAt),
            ...(keep ? [ne(sessions.id, keep)] : []),
          ),
        )
        .returning({ id: sessions.id }),
    );
    await this.forgetUser(userId);
    return revoked.length;
  }

  /** Revokes one session of the organization; false when there was no live one. */
  async revoke(orgId: string, sessionId: string, reason: string): Promise<boolean> {
    const revoked = await this.db.withOrgStatement(orgId, (tx) =>
      tx
        .update(sessions)
        .set({ revokedAt: new Date(), revokedReason: reason })
        .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
        .returning({ id: sessions.id }),
    );
    this.dropSession(sessionId);
    await this.announce({ session: sessionId });
    return revoked.length > 0;
  }
}
