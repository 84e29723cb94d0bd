import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { bullOutbox, memoryOutbox, type Outbox } from '../infra/queue.js';

/**
 * The send queue of this deployment: BullMQ when REDIS_URL is set, else in-process. The
 * BullMQ queue is named after a fingerprint of the active encryption key, so instances
 * share jobs only with instances that can decrypt the same channel tokens (another
 * deployment, or a test app, on the same Redis never takes them). The fingerprint is a
 * one-way hash of a 256-bit key and reveals nothing of it.
 */
export async function createOutbox(
  config: Config,
  onError: (err: unknown) => void,
): Promise<Outbox> {
  if (!config.redisUrl) return memoryOutbox(onError);
  const key = config.encryptionKeys[0]!.key;
  const fingerprint = createHash('sha256')
    .update('bastion outbound queue\0')
    .update(key)
    .digest('hex')
    .slice(0, 16);
  return bullOutbox(config.redisUrl, `outbound-${fingerprint}`, onError);
}
