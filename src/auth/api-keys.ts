import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { rows, type Database } from '../db/client.js';
import { apiKeys, type Scope } from '../db/schema/api-keys.js';
import type { Bus } from '../infra/pubsub.js';
import { sha256 } from './tokens.js';

export const API_KEY_PREFIX = 'bsk_';

/** What an API key may do: act in its organization within its scopes, nothing else. */
export interface ApiKeyPrincipal {
  keyId: string;
  orgId: string;
  scopes: readonly Scope[];
  /** The member who made it, for the audit trail (null once that member is deleted). */
  createdBy: string | null;
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
 * read under that organization's RLS scope and must be neither revoked nor expired. Answers
 * are cached for seconds and dropped on revocation here and (over the bus) everywhere.
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
    await this.bus.subscribe(CHANNEL, (keyId) => this.drop(keyId));
  }

  private drop(keyId: string): void {
    this.epoch++;
    for (const [hash, entry] of this.cache) {
      if (entry.principal.keyId === keyId) this.cache.delete(hash);
    }
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
        .where(
          and(
            eq(apiKeys.organizationId, owner.organization_id),
            eq(apiKeys.id, owner.api_key_id),
            isNull(apiKeys.revokedAt),
            or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, new Date(now))),
          ),
        )
        .returning({
          scopes: apiKeys.scopes,
          createdBy: apiKeys.createdBy,
          expiresAt: apiKeys.expiresAt,
        }),
    );
    if (!key) return null;
    const principal = {
      keyId: owner.api_key_id,
      orgId: owner.organization_id,
      scopes: key.scopes,
      createdBy: key.createdBy,
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
    this.drop(keyId);
    await this.bus.publish(CHANNEL, keyId).catch(() => {});
    return revoked.length > 0;
  }
}
