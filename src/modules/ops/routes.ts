import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { bearerToken } from '../../auth/credential.js';
import { secretEquals } from '../../crypto/secret-equals.js';
import { AppError } from '../../security/errors.js';

const check = z.enum(['ok', 'down']);

/**
 * Liveness, readiness and metrics: outside /api, never rate limited, no session, and
 * never shed under load (an operator needs them most then).
 */
export function opsRoutes(metrics: Registry): FastifyPluginAsyncZod {
  return async (app) => {
    const { db, redis, config } = app.ctx;
    const hide = { hide: true };
    const ops = { access: 'public', shed: false } as const;

    app.get(
      '/health',
      {
        config: ops,
        schema: { ...hide, response: { 200: z.object({ status: z.literal('ok') }) } },
      },
      async () => ({ status: 'ok' as const }),
    );

    // With Redis down the server keeps serving (sign-in refuses, other limits count per
    // instance) but reports 503 here, with `redis: down`, until Redis answers again.
    const ready = z.object({ status: z.literal('ok'), checks: z.record(z.string(), check) });
    app.get(
      '/ready',
      { config: ops, schema: { ...hide, response: { 200: ready } } },
      async (request) => {
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
        if (Object.values(checks).every((s) => s === 'ok'))
          return { status: 'ok' as const, checks };
        throw new AppError('unavailable', 'A dependency is not answering', {
          extra: { checks },
        });
      },
    );

    app.get('/metrics', { config: ops, schema: hide }, async (request, reply) => {
      if (config.metricsToken) {
        const presented = bearerToken(request);
        if (!presented || !secretEquals(presented, config.metricsToken))
          throw new AppError('unauthorized');
      }
      return reply.type(metrics.contentType).send(await metrics.metrics());
    });
  };
}
