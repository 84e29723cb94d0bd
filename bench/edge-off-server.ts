/**
 * The "edge off" server of the `edge` scenario: the built server (dist/, as `node
 * dist/main.js` runs it) with the same configuration from the environment, built with the
 * programmatic `bareEdge: true` (no security headers, CORS, HTTPS redirect, TRACE refusal,
 * rate limits or load shedding). No variable or configuration can switch these off: only a
 * program that calls buildApp itself, as this one does.
 */
import type * as AppModule from '../src/app.js';
import type * as ConfigModule from '../src/config.js';
import type * as ServerModule from '../src/server.js';

// The built modules, typed from their sources (dist/ carries no declarations).
const dist = async <T>(file: string): Promise<T> =>
  (await import(new URL(`../dist/${file}`, import.meta.url).href)) as T;

const { buildApp } = await dist<typeof AppModule>('app.js');
const { loadConfig } = await dist<typeof ConfigModule>('config.js');
const { connectRedis, openDatabase } = await dist<typeof ServerModule>('server.js');

const config = loadConfig();
const db = await openDatabase(config);
await db.migrate();
const redis = await connectRedis(config);
const app = await buildApp({ config, db, redis, bareEdge: true });

const shutdown = (): void => {
  void app
    .close()
    .then(async () => {
      await redis?.quit();
      await db.close();
    })
    .finally(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

await app.listen({ host: config.host, port: config.port });
