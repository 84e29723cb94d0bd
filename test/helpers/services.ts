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
