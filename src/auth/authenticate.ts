import type { FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal, ApiKeyService } from './api-keys.js';
import type { SessionCookies } from './cookies.js';
import { presentedCredential } from './credential.js';
import type { Principal, SessionService } from './sessions.js';
import type { TokenService, VerifiedClaims } from './tokens.js';

/** A verified credential and whom it stands for. */
export type Authentication =
  | { kind: 'session'; via: 'bearer' | 'cookie'; claims: VerifiedClaims; principal: Principal }
  | { kind: 'api-key'; key: ApiKeyPrincipal };

/**
 * Turns what a request presents into who sent it: the access token's signature and claims,
 * then its session (live, not revoked: a revoked token is no credential at all), or the
 * API key. Each request is resolved once, whoever asks first (the rate limiter or the
 * guard), so the two can never reach different verdicts about one request.
 */
export class Authenticator {
  private readonly resolved = new WeakMap<FastifyRequest, Promise<Authentication | null>>();

  constructor(
    private readonly deps: {
      tokens: TokenService;
      sessions: SessionService;
      apiKeys: ApiKeyService;
      cookies: SessionCookies;
    },
  ) {}

  /** The request's verified credential, or null when it presents none that is valid. */
  authenticate(request: FastifyRequest): Promise<Authentication | null> {
    let pending = this.resolved.get(request);
    if (!pending) {
      pending = this.resolve(request);
      this.resolved.set(request, pending);
    }
    return pending;
  }

  /**
   * The member behind a live session credential, without ever looking up an API key: what
   * the per-address block may let through (a key from a spent address is refused before
   * its database lookup; a revoked session token is no better than none).
   */
  async sessionUser(request: FastifyRequest): Promise<string | null> {
    const kind = presentedCredential(request, this.deps.cookies).kind;
    if (kind !== 'bearer' && kind !== 'cookie') return null;
    const auth = await this.authenticate(request);
    return auth?.kind === 'session' ? auth.principal.userId : null;
  }

  private async resolve(request: FastifyRequest): Promise<Authentication | null> {
    const presented = presentedCredential(request, this.deps.cookies);
    switch (presented.kind) {
      case 'none':
      case 'malformed':
        return null;
      case 'api-key': {
        const key = await this.deps.apiKeys.principal(presented.secret);
        return key && { kind: 'api-key', key };
      }
      case 'bearer':
      case 'cookie': {
        const claims = await this.deps.tokens.verifyAccess(presented.token);
        if (!claims) return null;
        const principal = await this.deps.sessions.principal(claims);
        return principal && { kind: 'session', via: presented.kind, claims, principal };
      }
    }
  }
}
