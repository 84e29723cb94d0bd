import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { rows, type Database } from '../db/client.js';
import { users, type Role } from '../db/schema.js';
import { apiKeys, type Scope } from '../db/schema/api-keys.js';
import type { Bus } from '../infra/pubsub.js';
import { sha256 } from './tokens.js';

export const API_KEY_PREFIX = 'bsk_';

/** What an API key may do: act in its organization within its scopes, nothing else. */
export interface ApiKeyPrincipal {
  keyId: string;
  orgId: string;
  scopes: readonly Scope[];
  /** The member who made it: the key acts for them, in the audit trail and the limits. */
  createdBy: string;
  /** That member's role now: a key never does more than its maker may do today. */
  role: Role;
}

/** `bsk_` + 256 random bits. Shown once; only its SHA-256 is stored. */
export function newApiKey() {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, hash: sha256(key), prefix: key.slice(0, 12) };
}

const CACHE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;
const CHANNEL = 'bastion:api-keys:revoked';

/**
 * Resolves presented keys: a SECURITY DEFINER lookup finds the organization, then the key is
 * read under that organization's RLS scope and must be neither revoked nor expired, and
 * its maker must still be a member (a removed member's keys die with them; their role
 * bounds the key's). Answers are cached for seconds and dropped on revocation, and on any
 * change to the maker (role, removal), here and (over the bus) everywhere.
 */
export class ApiKeyService {
  private readonly cache = new Map<string, { principal: ApiKeyPrincipal; until: number }>();
  /** Bumped by every revocation: a lookup that raced one is not cached (see sessions.ts). */
  private epoch = 0;

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
  ) {}

  async start(): Promise<void> {
    await this.bus.subscribe(CHANNEL, (keyId) => this.drop((k) => k.keyId === keyId));
  }

  /** Forgets cached keys of a member whose role or membership just changed. */
  forgetMaker(userId: string): void {
    this.drop((k) => k.createdBy === userId);
  }

  private drop(which: (key: ApiKeyPrincipal) => boolean): void {
    this.epoch++;
    for (const [hash, entry] of this.cache) if (which(entry.principal)) this.cache.delete(hash);
  }

  async principal(presented: string): Promise<ApiKeyPrincipal | null> {
    const hash = sha256(presented);
    const cacheKey = hash.toString('base64url');
    const now = Date.now();
    const hit = this.cache.get(cacheKey);
    if (hit && hit.until > now) return hit.principal;
    const epoch = this.epoch;
    const [owner] = await this.db.withoutOrg((tx) =>
      rows<{ api_key_id: string; organization_id: string }>(
        tx,
        sql`select api_key_id, organization_id from auth_api_key_org(${hash})`,
      ),
    );
    if (!owner) return null;
    const [key] = await this.db.withOrgStatement(owner.organization_id, (tx) =>
      tx
        .update(apiKeys)
        .set({ lastUsedAt: new Date(now) })
        .from(users)
        .where(
          and(
            eq(apiKeys.organizationId, owner.organization_id),
            eq(apiKeys.id, owner.api_key_id),
            isNull(apiKeys.revokedAt),
            or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, new Date(now))),
            eq(users.organizationId, owner.organization_id),
            eq(users.id, apiKeys.createdBy),
          ),
        )
        .returning({
          scopes: apiKeys.scopes,
          createdBy: users.id,
          role: users.role,
          expiresAt: apiKeys.expiresAt,
        }),
    );
    if (!key) return null;
    const principal = {
      keyId: owner.api_key_id,
      orgId: owner.organization_id,
      scopes: key.scopes,
      createdBy: key.createdBy,
      role: key.role,
    };
    // Never trust the cache past the key's own expiry.
    const until = Math.min(now + CACHE_TTL_MS, key.expiresAt?.getTime() ?? Infinity);
    if (epoch !== this.epoch) return principal;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(cacheKey, { principal, until });
    return principal;
  }

  /** Revokes a key of the organization; false when there was no live one. */
  async revoke(orgId: string, keyId: string): Promise<boolean> {
    const revoked = await this.db.withOrgStatement(orgId, (tx) =>
      tx
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(
          and(eq(apiKeys.organizationId, orgId), eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)),
        )
        .returning({ id: apiKeys.id }),
    );
    this.drop((k) => k.keyId === keyId);
    await this.bus.publish(CHANNEL, keyId).catch(() => {});
    return revoked.length > 0;
  }
}
