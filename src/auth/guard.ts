import type { FastifyInstance, FastifyRequest } from 'fastify';
import { roles, type Role } from '../db/schema.js';
import type { AuditLog } from '../audit/log.js';
import { securityEventFrom } from '../audit/request.js';
import { AppError } from '../security/errors.js';
import type { SessionCookies } from './cookies.js';
import type { Scope } from '../db/schema/api-keys.js';
import { API_KEY_PREFIX, type ApiKeyPrincipal, type ApiKeyService } from './api-keys.js';
import type { Principal, SessionService } from './sessions.js';
import type { TokenService } from './tokens.js';

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
  tokens: TokenService;
  sessions: SessionService;
  apiKeys: ApiKeyService;
  cookies: SessionCookies;
  /** Origins allowed to send cookie-authenticated requests: our own and ALLOWED_ORIGINS. */
  trustedOrigins: ReadonlySet<string>;
  audit: AuditLog;
}

/** Records a refused forgery; a failing event store must not turn the refusal into a 500. */
async function refused(
  request: FastifyRequest,
  deps: GuardDeps,
  who: { orgId: string; userId: string },
  type: string,
  metadata: Record<string, unknown>,
) {
  await deps.audit
    .securityEvent(
      securityEventFrom(request, { type, orgId: who.orgId, userId: who.userId, metadata }),
    )
    .catch((err: unknown) => request.log.warn({ err }, 'security event not recorded'));
}

function bearer(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
  return match ? match[1]! : null;
}

/**
 * Authentication for every route of the plugin it is registered in. A route opts out only
 * by declaring `config.access = 'public'`; a route that declares nothing fails at startup,
 * so forgetting the declaration can never leave a route open.
 */
export function registerAuthGuard(app: FastifyInstance, deps: GuardDeps): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('apiKey', null);
  app.decorateRequest('credential', null);

  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access policy`);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    reply.header('cache-control', 'no-store');

    const fromHeader = bearer(request);
    if (fromHeader === null) throw new AppError('unauthorized');
    if (fromHeader?.startsWith(API_KEY_PREFIX)) {
      // API keys: header-only (never CSRF-able), scoped, and only where a route names a scope.
      const key = await deps.apiKeys.principal(fromHeader);
      if (!key) throw new AppError('unauthorized');
      const scope = request.routeOptions.config.scope;
      if (!scope || !key.scopes.includes(scope)) throw new AppError('insufficient_scope');
      request.apiKey = key;
      request.credential = 'api-key';
      return;
    }
    const token = fromHeader ?? deps.cookies.accessToken(request);
    if (!token) throw new AppError('unauthorized');
    const credential = fromHeader ? 'bearer' : 'cookie';

    const claims = await deps.tokens.verifyAccess(token);
    if (!claims) throw new AppError('unauthorized');

    const principal = await deps.sessions.principal(claims);
    if (!principal) throw new AppError('unauthorized');

    // A browser attaches cookies to cross-site requests; an Authorization header it never
    // adds by itself. So only cookie-authenticated requests need the Origin and CSRF checks.
    if (credential === 'cookie') {
      const origin = request.headers.origin;
      if (origin !== undefined && !deps.trustedOrigins.has(origin)) {
        await refused(request, deps, claims, 'cross_origin_refused', {
          origin: origin.slice(0, 200),
        });
        throw new AppError('csrf_failed', 'This origin may not send authenticated requests');
      }
      if (UNSAFE.has(request.method)) {
        const presented = request.headers['x-csrf-token'];
        if (
          typeof presented !== 'string' ||
          !deps.tokens.csrfMatches(claims.sessionId, presented)
        ) {
          await refused(request, deps, claims, 'csrf_failed', {});
          throw new AppError('csrf_failed', 'Missing or wrong X-CSRF-Token');
        }
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
    request.credential = credential;
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
