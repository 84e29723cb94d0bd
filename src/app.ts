import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { AuditLog } from './audit/log.js';
import { auditRoutes } from './modules/audit-logs/routes.js';
import { accountRoutes } from './auth/account-routes.js';
import { apiKeyRoutes } from './auth/api-key-routes.js';
import { ApiKeyService } from './auth/api-keys.js';
import { Authenticator } from './auth/authenticate.js';
import { collectRoutePolicy } from './auth/route-policy.js';
import { SessionCookies } from './auth/cookies.js';
import { mfaRoutes } from './auth/mfa/routes.js';
import { registerAuthGuard } from './auth/guard.js';
import { prepareDummyHash } from './auth/passwords.js';
import { LoginLockout } from './auth/lockout.js';
import { authRoutes } from './auth/routes.js';
import { sessionRoutes } from './auth/session-routes.js';
import { SessionService } from './auth/sessions.js';
import { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import { Keyring } from './crypto/keyring.js';
import type { AppContext } from './context.js';
import type { Database } from './db/client.js';
import { loggerOptions } from './infra/logger.js';
import { registerMetrics } from './infra/metrics.js';
import { memoryBus, redisBus } from './infra/pubsub.js';
import { opsRoutes } from './modules/ops/routes.js';
import type { Redis } from './infra/redis.js';
import { channelRoutes } from './modules/channels/routes.js';
import { conversationRoutes } from './modules/conversations/routes.js';
import { customerRoutes } from './modules/customers/routes.js';
import { timelineRoutes } from './modules/timeline/routes.js';
import { webhookLogRoutes } from './modules/webhook-logs/routes.js';
import { userRoutes } from './modules/users/routes.js';
import { organizationRoutes } from './modules/organization/routes.js';
import { frameworkErrors, registerErrorHandling } from './security/errors.js';
import { malformedRequests } from './security/client-errors.js';
import { registerCors } from './security/cors.js';
import { CONSOLE_CSP, registerSecurityHeaders, withSecurityHeaders } from './security/headers.js';
import { refuseTrace, registerHttpsRedirect, trustProxy } from './security/https.js';
import { registerJsonParser } from './security/json-body.js';
import { registerTextRule } from './security/text.js';
import {
  DEFAULT_EDGE_LIMITS,
  registerEdgeLimits,
  serverTimeouts,
  type EdgeLimits,
} from './security/edge-limits.js';
import { limitStore } from './security/limit-store.js';
import { registerFailureLimit, registerRateLimits } from './security/rate-limit.js';
import { requestIdFrom } from './security/request-id.js';
import { busPublisher } from './realtime/events.js';
import { realtimeRoutes, registerWebsocket } from './realtime/routes.js';
import { WebhookChannels } from './webhooks/channels.js';
import { webhookRoutes } from './webhooks/routes.js';
import { createOutbox } from './whatsapp/outbox.js';
import { OutboundWorker } from './whatsapp/worker.js';

export interface AppDeps {
  config: Config;
  db: Database;
  redis?: Redis | null;
  /** Overrides of the edge's timeouts, connection cap and load-shedding threshold. */
  edgeLimits?: Partial<EdgeLimits>;
  /**
   * Benchmarks only: skips security headers, CORS, HTTPS redirect, TRACE refusal, rate
   * limits and load shedding; never set from configuration.
   */
  bareEdge?: boolean;
}

const MiB = 1024 * 1024;

/**
 * The server, in tiers (STYLE.md): edge (ids, errors, body parsing, cookies) ->
 * application (context, auth guard) -> routes. Later tiers rely on the earlier ones.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db } = deps;
  const edge = { ...DEFAULT_EDGE_LIMITS, ...deps.edgeLimits };
  const base = Fastify({
    logger: loggerOptions(config.logLevel),
    genReqId: requestIdFrom,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    trustProxy: trustProxy(config.trustProxy),
    bodyLimit: MiB,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    frameworkErrors: withSecurityHeaders(frameworkErrors),
    clientErrorHandler: malformedRequests,
    ...serverTimeouts(edge),
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 200 },
  });

  collectRoutePolicy(base);

  // Tier 1: the edge.
  base.setValidatorCompiler(validatorCompiler);
  base.setSerializerCompiler(serializerCompiler);
  await registerWebsocket(base);
  base.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  if (!deps.bareEdge) {
    registerSecurityHeaders(base);
    registerHttpsRedirect(base, config);
    refuseTrace(base);
    registerCors(base, config.allowedOrigins);
  }
  registerErrorHandling(base);
  registerJsonParser(base);
  registerTextRule(base);
  await base.register(cookie);
  const metrics = registerMetrics(base);
  if (!deps.bareEdge) await registerEdgeLimits(base, edge);
  const app = base.withTypeProvider<ZodTypeProvider>();

  // Tier 2: the application's services.
  void prepareDummyHash();
  const tokens = new TokenService(config.jwtSecret);
  const redis = deps.redis ?? null;
  const limits = limitStore(redis, base.log);
  const counters = limits.failClosed;
  const bus = redis && config.redisUrl ? await redisBus(config.redisUrl, redis) : memoryBus();
  const sessions = new SessionService(db, config.session, bus, (err) =>
    base.log.warn({ err }, 'session revocation broadcast failed'),
  );
  await sessions.start();
  const apiKeys = new ApiKeyService(db, bus);
  await apiKeys.start();
  sessions.onUserChanged((userId) => apiKeys.forgetMaker(userId));
  const keyring = new Keyring(config.encryptionKeys);
  const webhookChannels = new WebhookChannels(db, keyring, bus);
  await webhookChannels.start();
  const outbox = await createOutbox(config, (err) =>
    base.log.warn({ err }, 'outbound queue error'),
  );
  base.addHook('onClose', () => bus.close());
  const ctx: AppContext = {
    config,
    db,
    redis,
    tokens,
    sessions,
    apiKeys,
    counters,
    lockout: new LoginLockout(counters, config),
    cookies: new SessionCookies(config.cookieSecure),
    audit: new AuditLog(db),
    keyring,
    webhookChannels,
    bus,
    outbox,
    realtime: busPublisher(bus, (err) => base.log.warn({ err }, 'realtime publish failed')),
  };
  app.decorate('ctx', ctx);
  const sender = new OutboundWorker({
    config,
    db,
    keyring,
    outbox,
    realtime: ctx.realtime,
    log: base.log,
  });
  base.addHook('onReady', () => sender.start());
  base.addHook('onClose', () => sender.close());

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Bastion API', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          cookie: { type: 'apiKey', in: 'cookie', name: ctx.cookies.names.access },
        },
      },
      security: [{ bearer: [] }, { cookie: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: CONSOLE_CSP });
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  // Tier 3: routes.
  await app.register(opsRoutes(metrics));
  const authenticator = new Authenticator({ tokens, sessions, apiKeys, cookies: ctx.cookies });
  const limitDeps = { store: limits, config, audit: ctx.audit, authenticator };
  await app.register(
    async (hooks) => {
      if (!deps.bareEdge) registerFailureLimit(hooks, limitDeps);
      await hooks.register(webhookRoutes);
    },
    { prefix: '/webhooks' },
  );
  await app.register(
    async (api) => {
      // Before the guard: it turns spent addresses away ahead of any credential lookup.
      if (!deps.bareEdge) registerRateLimits(api, limitDeps);
      registerAuthGuard(api, {
        authenticator,
        tokens,
        cookies: ctx.cookies,
        audit: ctx.audit,
        trustedOrigins: new Set([new URL(config.publicUrl).origin, ...config.allowedOrigins]),
      });
      await api.register(authRoutes);
      await api.register(accountRoutes);
      await api.register(sessionRoutes);
      await api.register(apiKeyRoutes);
      await api.register(mfaRoutes);
      await api.register(userRoutes);
      await api.register(organizationRoutes);
      await api.register(auditRoutes);
      await api.register(customerRoutes);
      await api.register(conversationRoutes);
      await api.register(realtimeRoutes);
      await api.register(timelineRoutes);
      await api.register(webhookLogRoutes);
      await api.register(channelRoutes);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
