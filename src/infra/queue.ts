import { Queue, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';

/** One outbound message to attempt; `attempt` tells a retry from the first try or a sweep. */
export interface OutboundJob {
  orgId: string;
  messageId: string;
  attempt?: number;
}

export type OutboundHandler = (job: OutboundJob) => Promise<void>;

/**
 * The send queue. It only carries ids: the messages table is the durable truth, so a job
 * lost with a crashed process or a flushed Redis is found again by the worker's sweeper,
 * and a job run twice is harmless (the worker claims its message atomically).
 */
export interface Outbox {
  enqueue(job: OutboundJob, delayMs?: number): Promise<void>;
  start(handler: OutboundHandler): Promise<void>;
  close(): Promise<void>;
}

const CONCURRENCY = 4;

/** Duplicate jobs of one message and attempt collapse into one. */
const keyOf = (job: OutboundJob) => `${job.messageId}-${job.attempt ?? 'sweep'}`;

/** This process only (no REDIS_URL): timers and a bounded number of jobs at once. */
export function memoryOutbox(onError: (err: unknown) => void): Outbox {
  let handler: OutboundHandler | null = null;
  let closed = false;
  const waiting: OutboundJob[] = [];
  const keys = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  const pump = () => {
    while (handler && running.size < CONCURRENCY && waiting.length > 0) {
      const job = waiting.shift()!;
      keys.delete(keyOf(job));
      const run: Promise<void> = handler(job)
        .catch(onError)
        .finally(() => {
          running.delete(run);
          if (!closed) pump();
        });
      running.add(run);
    }
  };
  const push = (job: OutboundJob) => {
    if (closed || keys.has(keyOf(job))) return;
    keys.add(keyOf(job));
    waiting.push(job);
    pump();
  };

  return {
    async enqueue(job, delayMs = 0) {
      if (closed) return;
      if (delayMs <= 0) return push(job);
      const timer = setTimeout(() => {
        timers.delete(timer);
        push(job);
      }, delayMs);
      timers.add(timer);
    },
    async start(h) {
      handler = h;
      pump();
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      waiting.length = 0;
      await Promise.allSettled([...running]);
    },
  };
}

/**
 * BullMQ on Redis (REDIS_URL): every instance takes jobs from one queue. Only instances
 * that share `name` share jobs; app.ts derives it from the keyring, so an instance that
 * cannot decrypt the channel tokens never takes (and drops) another deployment's jobs.
 */
export async function bullOutbox(
  url: string,
  name: string,
  onError: (err: unknown) => void,
): Promise<Outbox> {
  const prefix = 'bastion';
  // The producer fails fast while Redis is down (the sweeper re-enqueues from the table);
  // the consumer's blocking connection must wait forever, as BullMQ requires.
  const producer = new IORedis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const consumer = new IORedis(url, { maxRetriesPerRequest: null });
  for (const c of [producer, consumer]) c.on('error', () => {});
  // Job ids only; the events stream is kept short (nothing here reads it).
  const queue = new Queue<OutboundJob>(name, {
    connection: producer,
    prefix,
    streams: { events: { maxLen: 100 } },
  });
  queue.on('error', onError);
  await queue.waitUntilReady();
  let worker: Worker<OutboundJob> | null = null;

  return {
    async enqueue(job, delayMs = 0) {
      const data: OutboundJob = { orgId: job.orgId, messageId: job.messageId };
      if (job.attempt !== undefined) data.attempt = job.attempt;
      await queue.add('send', data, {
        jobId: keyOf(job),
        delay: Math.max(0, Math.round(delayMs)),
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: true,
      });
    },
    async start(handler) {
      worker = new Worker<OutboundJob>(name, (job) => handler(job.data), {
        connection: consumer,
        prefix,
        concurrency: CONCURRENCY,
      });
      worker.on('error', onError);
      worker.on('failed', (_job, err) => onError(err));
    },
    async close() {
      await worker?.close();
      await queue.close();
      producer.disconnect();
      consumer.disconnect();
    },
  };
}
