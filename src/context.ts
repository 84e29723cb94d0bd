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
import type { Bus } from './infra/pubsub.js';
import type { Outbox } from './infra/queue.js';
import type { Redis } from './infra/redis.js';
import type { RealtimePublisher } from './realtime/events.js';
import type { WebhookChannels } from './webhooks/channels.js';

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
  /** Broadcast between instances (Redis pub/sub, else in-process). */
  bus: Bus;
  /** Announces events to the organization's sockets on every instance. */
  realtime: RealtimePublisher;
  /** The channel a webhook URL names (cached; evict on change). */
  webhookChannels: WebhookChannels;
  /** The outbound send queue; routes only enqueue, the WhatsApp worker consumes. */
  outbox: Outbox;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
}
