import { join } from 'node:path';
import type { Config } from './config.js';
import { createDatabase, type Database } from './db/client.js';
import { isPermissionDenied } from './db/errors.js';
import { createRedis, describeRedisFailure, type Redis } from './infra/redis.js';

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
  await assertActsAsApp(db, role.name);
  if (!role.superuser && !role.bypassRls) return null;
  const problem = `DATABASE_URL logs in as "${role.name}", which is ${role.superuser ? 'a superuser' : 'BYPASSRLS'}; use a login role that is neither (see README)`;
  if (config.env === 'production') throw new StartupError(problem);
  return problem;
}

/**
 * Every request transaction switches to bastion_app; a login that may not would start a
 * server whose every request answers 500. Tried the way requests do it, so the check and
 * the requests cannot disagree.
 */
async function assertActsAsApp(db: Database, login: string): Promise<void> {
  try {
    await db.withoutOrg(async () => undefined);
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
    const ident = /^[a-z_][a-z0-9_$]*$/.test(login) ? login : `"${login.replace(/"/g, '""')}"`;
    throw new StartupError(
      `DATABASE_URL logs in as "${login}", which is not a member of bastion_app: as the owner (DATABASE_MIGRATION_URL) run \`GRANT bastion_app TO ${ident};\` (see README)`,
    );
  }
}

/** A configured Redis that does not answer stops the start, naming the variable. */
export async function connectRedis(config: Config): Promise<Redis | null> {
  if (!config.redisUrl) return null;
  const redis = createRedis(config.redisUrl);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new StartupError(`REDIS_URL: ${describeRedisFailure(config.redisUrl, err)}`);
  }
  return redis;
}
