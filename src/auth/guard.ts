import type { FastifyInstance, FastifyRequest } from 'fastify';
import { roles, type Role } from '../db/schema.js';
import type { AuditLog } from '../audit/log.js';
import { recordRefusal } from '../audit/request.js';
import { AppError } from '../security/errors.js';
import type { Authenticator } from './authenticate.js';
import type { SessionCookies } from './cookies.js';
import { carriesSessionCookie } from './credential.js';
import type { Scope } from '../db/schema/api-keys.js';
import type { ApiKeyPrincipal } from './api-keys.js';
import type { Principal } from './sessions.js';
import type { TokenService, VerifiedClaims } from './tokens.js';

/** Who may call a route: anyone ('public'), or a member with at least this role. */
export type Access = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** Reachable by a member whose organization requires MFA before they enrolled. */
    allowWithoutMfa?: boolean;
    /** The scope an API key needs here; routes without one are closed to API keys. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** The signed-in member (session credential), if any. */
    principal: Principal | null;
    /** The verified access token of a session credential (its expiry ends a socket). */
    claims: VerifiedClaims | null;
    /** The API key the request authenticated with, if any. */
    apiKey: ApiKeyPrincipal | null;
    /** How the request authenticated; cookie requests are the ones CSRF can forge. */
    credential: 'cookie' | 'bearer' | 'api-key' | null;
  }
}

/** owner > admin > agent > viewer: a lower index outranks a higher one. */
const rank = (role: Role) => roles.length - roles.indexOf(role);
export const hasRole = (actual: Role, required: Role) => rank(actual) >= rank(required);

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface GuardDeps {
  authenticator: Authenticator;
  /** CSRF tokens, and attributing a refused cross-origin request to its session. */
  tokens: TokenService;
  cookies: SessionCookies;
  /** Origins allowed to send cookie-authenticated requests: our own and ALLOWED_ORIGINS. */
  trustedOrigins: ReadonlySet<string>;
  audit: AuditLog;
}

/**
 * A browser attaches our cookies to cross-site requests whatever the route: sign-in and
 * refresh too, which would hand a foreign page fresh cookies in the victim's session. So
 * any request carrying one of our session cookies must come from one of our origins when
 * it names one (`null` included: sandboxed frames and some redirects send it).
 */
async function refuseForeignOrigin(request: FastifyRequest, deps: GuardDeps): Promise<void> {
  const origin = request.headers.origin;
  if (origin === undefined || deps.trustedOrigins.has(origin)) return;
  if (!carriesSessionCookie(request, deps.cookies)) return;
  const token = deps.cookies.accessToken(request);
  const claims = token ? await deps.tokens.verifyAccess(token) : null;
  await recordRefusal(deps.audit, request, {
    type: 'cross_origin_refused',
    orgId: claims?.orgId ?? null,
    userId: claims?.userId ?? null,
    metadata: { origin: origin.slice(0, 200) },
  });
  throw new AppError('csrf_failed', 'This origin may not send authenticated requests');
}

/**
 * Authentication for every route of the plugin it is registered in. A route opts out only
 * by declaring `config.access = 'public'`; a route that declares nothing fails at startup,
 * so forgetting the declaration can never leave a route open.
 */
export function registerAuthGuard(app: FastifyInstance, deps: GuardDeps): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('claims', null);
  app.decorateRequest('apiKey', null);
  app.decorateRequest('credential', null);

  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access policy`);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    await refuseForeignOrigin(request, deps);
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    reply.header('cache-control', 'no-store');

    const auth = await deps.authenticator.authenticate(request);
    if (!auth) throw new AppError('unauthorized');

    if (auth.kind === 'api-key') {
      // API keys: header-only (never CSRF-able), scoped, only where a route names a scope,
      // and never beyond what the member who made the key may do today.
      const scope = request.routeOptions.config.scope;
      if (!scope || !auth.key.scopes.includes(scope)) throw new AppError('insufficient_scope');
      if (!hasRole(auth.key.role, access)) throw new AppError('forbidden');
      request.apiKey = auth.key;
      request.credential = 'api-key';
      return;
    }

    const { claims, principal } = auth;
    // An Authorization header a browser never adds by itself: only cookie-authenticated
    // requests can be forged cross-site, so only they need the CSRF token.
    if (auth.via === 'cookie' && UNSAFE.has(request.method)) {
      const presented = request.headers['x-csrf-token'];
      if (typeof presented !== 'string' || !deps.tokens.csrfMatches(claims.sessionId, presented)) {
        await recordRefusal(deps.audit, request, {
          type: 'csrf_failed',
          orgId: claims.orgId,
          userId: claims.userId,
        });
        throw new AppError('csrf_failed', 'Missing or wrong X-CSRF-Token');
      }
    }

    if (principal.mfaPending && !request.routeOptions.config.allowWithoutMfa) {
      throw new AppError(
        'forbidden',
        'Your organization requires two-factor authentication: enroll first (/api/v1/auth/mfa/totp/setup)',
      );
    }
    if (!hasRole(principal.role, access)) throw new AppError('forbidden');
    request.principal = principal;
    request.claims = claims;
    request.credential = auth.via;
  });
}

/** The organization and acting member of a request, whether a member or an API key made it. */
export function tenantOf(request: FastifyRequest): { orgId: string; actorId: string | null } {
  if (request.principal)
    return { orgId: request.principal.orgId, actorId: request.principal.userId };
  if (request.apiKey) return { orgId: request.apiKey.orgId, actorId: request.apiKey.createdBy };
  throw new AppError('unauthorized');
}

/** The signed-in member of a route that is not public (API keys never reach these). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthorized');
  return request.principal;
}
