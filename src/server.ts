import { join } from 'node:path';
import type { Config } from './config.js';
import { createDatabase, type Database } from './db/client.js';
import { createRedis, type Redis } from './infra/redis.js';

export class StartupError extends Error {}

/** Opens the database (PGlite under DATA_DIR unless DATABASE_URL) and migrates it. */
export async function openDatabase(config: Config): Promise<Database> {
  return createDatabase({
    url: config.databaseUrl,
    migrationUrl: config.databaseMigrationUrl,
    poolSize: config.databasePoolSize,
    dataDir: join(config.dataDir, 'pgdata'),
  });
}

/**
 * Row-level security binds only roles that are neither superuser nor BYPASSRLS. Every
 * request also switches to bastion_app, but a privileged login could switch back; so
 * production refuses to run with one, and other environments say so loudly.
 */
export async function checkLoginRole(db: Database, config: Config): Promise<string | null> {
  if (db.kind !== 'postgres') return null;
  const role = await db.loginRole();
  if (!role.superuser && !role.bypassRls) return null;
  const problem = `DATABASE_URL logs in as "${role.name}", which is ${role.superuser ? 'a superuser' : 'BYPASSRLS'}; use a login role that is neither (see README)`;
  if (config.env === 'production') throw new StartupError(problem);
  return problem;
}

export async function connectRedis(config: Config): Promise<Redis | null> {
  if (!config.redisUrl) return null;
  const redis = createRedis(config.redisUrl);
  await redis.connect();
  return redis;
}
