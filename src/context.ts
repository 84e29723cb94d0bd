import type { AuditLog } from './audit/log.js';
import type { ApiKeyService } from './auth/api-keys.js';
import type { SessionCookies } from './auth/cookies.js';
import type { LoginLockout } from './auth/lockout.js';
import type { SessionService } from './auth/sessions.js';
import type { TokenService } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Keyring } from './crypto/keyring.js';
import type { Database } from './db/client.js';
import type { Counters } from './infra/counters.js';
import type { Redis } from './infra/redis.js';

/** What route plugins reach through `app.ctx`: built once in app.ts. */
export interface AppContext {
  config: Config;
  db: Database;
  redis: Redis | null;
  tokens: TokenService;
  sessions: SessionService;
  apiKeys: ApiKeyService;
  counters: Counters;
  lockout: LoginLockout;
  cookies: SessionCookies;
  audit: AuditLog;
  keyring: Keyring;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}
