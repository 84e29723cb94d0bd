import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Database, Tx } from '../db/client.js';
import { CHANNEL_ACCESS_TOKEN } from '../db/schema/whatsapp.js';
import type { OutboundJob, Outbox } from '../infra/queue.js';
import type { MessageOut } from '../modules/conversations/schema.js';
import type { RealtimePublisher } from '../realtime/events.js';
import { sendText, type GraphError, type SendOutcome } from './graph.js';
import * as repo from './outbound-repo.js';

export interface WorkerDeps {
  config: Config;
  db: Database;
  keyring: Keyring;
  outbox: Outbox;
  realtime: RealtimePublisher;
  log: FastifyBaseLogger;
}

const SWEEP_MS = 5_000;
const SWEEP_LIMIT = 200;
const MAX_DELAY_MS = 5 * 60 * 1000;

/** base * 2^(attempt-1), half of it random so a burst of failures does not retry in step. */
export function backoffMs(baseMs: number, attempts: number, retryAfterMs?: number): number {
  const exp = Math.min(MAX_DELAY_MS, baseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.min(MAX_DELAY_MS, Math.max(jittered, retryAfterMs ?? 0));
}

type Prepared =
  | {
      kind: 'send';
      message: MessageOut;
      attempts: number;
      token: string;
      to: string;
      body: string;
      phoneNumberId: string;
    }
  | { kind: 'fail'; message: MessageOut; error: GraphError };

/**
 * Sends queued outbound messages. Logs name message ids and Meta's error codes only:
 * message bodies and channel tokens never reach a log line.
 */
/**
 * Meta has accepted the message: losing this write would let the lock expire and the
 * sweeper send it a second time. A database blip is ridden out before giving up.
 */
async function persist<T>(write: () => Promise<T>): Promise<T> {
  for (const pause of [200, 1_000, 3_000]) {
    try {
      return await write();
    } catch {
      await new Promise((r) => setTimeout(r, pause));
    }
  }
  return write();
}

/** How long a message whose token this instance cannot decrypt waits before another look. */
const UNDECRYPTABLE_RETRY_MS = 5 * 60_000;

export class OutboundWorker {
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly deps: WorkerDeps) {}

  async start(): Promise<void> {
    await this.deps.outbox.start((job) => this.handle(job));
    // The table is the queue's truth: what was queued before a restart, or whose job
    // Redis lost, is found here and enqueued again.
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.deps.outbox.close();
  }

  private async sweep(): Promise<void> {
    try {
      const due = await repo.dueMessages(this.deps.db, SWEEP_LIMIT);
      for (const m of due)
        await this.deps.outbox.enqueue({ orgId: m.organization_id, messageId: m.id });
    } catch (err) {
      this.deps.log.warn({ err }, 'outbound sweep failed');
    }
  }

  async handle(job: OutboundJob): Promise<void> {
    const { db, config } = this.deps;
    const prepared = await db.withOrg(job.orgId, (tx) => this.prepare(tx, job));
    if (!prepared) return;
    this.publish(job.orgId, prepared.message);
    if (prepared.kind === 'fail') {
      return this.done(job, await repo.markFailed(db, job.orgId, job.messageId, prepared.error));
    }
    // A claim after a crashed attempt: never one send beyond the configured attempts.
    if (prepared.attempts > config.whatsappSendAttempts) {
      const error = { message: `Not sent after ${config.whatsappSendAttempts} attempts` };
      return this.done(job, await repo.markFailed(db, job.orgId, job.messageId, error));
    }
    const outcome: SendOutcome = await sendText({
      baseUrl: config.whatsappGraphUrl,
      version: config.whatsappApiVersion,
      phoneNumberId: prepared.phoneNumberId,
      accessToken: prepared.token,
      to: prepared.to,
      body: prepared.body,
    });
    if (outcome.kind === 'sent') {
      const sent = await persist(() =>
        repo.markSent(db, job.orgId, job.messageId, outcome.waMessageId),
      );
      return this.done(job, sent);
    }
    if (outcome.kind === 'rejected' || prepared.attempts >= config.whatsappSendAttempts) {
      return this.done(job, await repo.markFailed(db, job.orgId, job.messageId, outcome.error));
    }
    const delay = backoffMs(config.whatsappRetryBaseMs, prepared.attempts, outcome.retryAfterMs);
    const queued = await repo.markRetry(db, job.orgId, job.messageId, delay, outcome.error);
    this.done(job, queued, outcome.error);
    if (queued) {
      const next = { orgId: job.orgId, messageId: job.messageId, attempt: prepared.attempts };
      await this.deps.outbox
        .enqueue(next, delay)
        .catch((err: unknown) =>
          this.deps.log.warn(
            { err, messageId: job.messageId },
            'retry not enqueued; the sweeper will',
          ),
        );
    }
  }

  private async prepare(tx: Tx, job: OutboundJob): Promise<Prepared | null> {
    const target = await repo.loadDue(tx, job.orgId, job.messageId);
    if (!target) return null;
    let token: string | null = null;
    if (!target.channelDeleted && target.accessToken && target.phoneNumberId) {
      try {
        token = this.deps.keyring.decrypt(target.accessToken, job.orgId, CHANNEL_ACCESS_TOKEN);
      } catch {
        // Not this instance's keyring (a misconfigured or mid-rotation instance): leave the
        // message unclaimed for an instance that holds the key, rather than fail it.
        this.deps.log.warn({ messageId: job.messageId }, 'channel token not decryptable here');
        // Out of the sweep's way for a while, so it cannot starve the messages behind it.
        await repo.postpone(tx, job.orgId, job.messageId, UNDECRYPTABLE_RETRY_MS);
        return null;
      }
    }
    const claimed = await repo.claim(tx, job.orgId, job.messageId);
    if (!claimed) return null;
    if (token === null || target.phoneNumberId === null) {
      return {
        kind: 'fail',
        message: claimed.message,
        error: { message: 'The channel was deleted' },
      };
    }
    return {
      kind: 'send',
      ...claimed,
      token,
      to: target.to,
      body: target.body,
      phoneNumberId: target.phoneNumberId,
    };
  }

  private done(job: OutboundJob, message: MessageOut | null, error?: GraphError): void {
    if (!message) return;
    this.publish(job.orgId, message);
    const code = message.error?.code ?? error?.code;
    this.deps.log.info({ messageId: message.id, status: message.status, code }, 'outbound message');
  }

  private publish(orgId: string, message: MessageOut): void {
    this.deps.realtime.publish(orgId, { type: 'message.status', data: message });
  }
}
