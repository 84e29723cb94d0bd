import { Redis } from 'ioredis';
import postgres from 'postgres';

/**
 * The external services a run uses. With REQUIRE_SERVICES=1 a missing or unreachable
 * PostgreSQL or Redis fails the run: it is never silently replaced by the embedded ones.
 */
export function services() {
  const required = process.env.REQUIRE_SERVICES === '1';
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const redisUrl = process.env.REDIS_URL || undefined;
  const migrationUrl = process.env.DATABASE_MIGRATION_URL || databaseUrl;
  if (required && (!databaseUrl || !redisUrl)) {
    throw new Error('REQUIRE_SERVICES=1 needs both DATABASE_URL and REDIS_URL');
  }
  return {
    databaseUrl,
    migrationUrl,
    redisUrl,
    /** Lets the test login role (DATABASE_URL's user) act as bastion_app, as the README tells operators. */
    async grantAppRole() {
      if (!databaseUrl || !migrationUrl) return;
      const login = decodeURIComponent(new URL(databaseUrl).username || 'postgres');
      const owner = postgres(migrationUrl, { max: 1, onnotice: () => {} });
      try {
        const [me] = await owner<{ name: string }[]>`select current_user as name`;
        if (me?.name !== login) {
          await owner.unsafe(`grant bastion_app to "${login.replace(/"/g, '""')}"`);
        }
      } finally {
        await owner.end();
      }
    },
    /**
     * A database of its own, on the run's PostgreSQL, for a test that starts real server
     * processes: a start checks every stored value's key id against ENCRYPTION_KEYS, and
     * the shared database holds other files' values. Empty: the server migrates it.
     */
    async isolatedDatabase(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
      if (!databaseUrl || !migrationUrl) throw new Error('isolatedDatabase needs DATABASE_URL');
      const name = `bastion_iso_${process.pid}_${Date.now().toString(36)}`;
      const admin = postgres(migrationUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${name}`);
      await admin.end();
      const at = (url: string) => {
        const u = new URL(url);
        u.pathname = `/${name}`;
        return u.toString();
      };
      return {
        env: { DATABASE_URL: at(databaseUrl), DATABASE_MIGRATION_URL: at(migrationUrl) },
        async drop() {
          const owner = postgres(migrationUrl, { max: 1, onnotice: () => {} });
          await owner.unsafe(`drop database if exists ${name} with (force)`);
          await owner.end();
        },
      };
    },
    async pingRedis() {
      if (!redisUrl) return;
      const redis = new Redis(redisUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        connectTimeout: 2000,
      });
      try {
        await redis.connect();
        await redis.ping();
      } finally {
        redis.disconnect();
      }
    },
  };
}
