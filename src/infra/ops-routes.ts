import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { safeEqual } from '../auth/tokens.js';
import { AppError } from '../security/errors.js';

/** Liveness, readiness and metrics: outside /api, never rate limited, no session. */
export function opsRoutes(metrics: Registry): FastifyPluginAsyncZod {
  return async (app) => {
    const { db, redis, config } = app.ctx;
    const hide = { hide: true };

    app.get(
      '/health',
      { schema: { ...hide, response: { 200: z.object({ status: z.literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );

    app.get('/ready', { schema: hide }, async (request) => {
      const checks: Record<string, 'ok' | 'down'> = {};
      const probe = async (name: string, fn: () => Promise<unknown>) => {
        try {
          await Promise.race([
            fn(),
            new Promise((_, reject) =>
              setTimeout(() => reject(new Error('timeout')), 2_000).unref(),
            ),
          ]);
          checks[name] = 'ok';
        } catch (err) {
          request.log.warn({ err, dependency: name }, 'readiness check failed');
          checks[name] = 'down';
        }
      };
      await Promise.all([
        probe('database', () => db.ping()),
        ...(redis ? [probe('redis', () => redis.ping())] : []),
      ]);
      if (Object.values(checks).every((s) => s === 'ok')) return { status: 'ok', checks };
      throw new AppError('unavailable', 'A dependency is not answering', undefined, { checks });
    });

    app.get('/metrics', { schema: hide }, async (request, reply) => {
      if (config.metricsToken) {
        const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
        if (!presented || !safeEqual(presented, config.metricsToken))
          throw new AppError('unauthorized');
      }
      return reply.type(metrics.contentType).send(await metrics.metrics());
    });
  };
}
