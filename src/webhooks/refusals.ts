import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/log.js';
import { recordRefusal as recordRefusalEvent } from '../audit/request.js';
import type { Database } from '../db/client.js';
import type { ChannelType } from '../db/schema/whatsapp.js';
import type { Counters } from '../infra/counters.js';
import type { WebhookChannel } from './channels.js';
import { recordDelivery } from './deliveries.js';

/**
 * Refusals recorded per channel and minute. Anyone can post garbage to a webhook URL; past
 * this many, further refusals in the minute are still refused but not written, so a flood
 * of unsigned requests cannot turn into a flood of database writes.
 */
export const RECORDED_REFUSALS_PER_MINUTE = 100;

/** Whether this refusal is still within the channel's recording budget for the minute. */
export async function withinBudget(
  counters: Counters,
  channelId: string,
): Promise<{ record: boolean; last: boolean }> {
  let count = 1;
  try {
    ({ count } = await counters.hit(`webhook-refusals:${channelId}`, 60_000));
  } catch {
    // Without the shared counter, record: losing the trace matters more than one write.
  }
  return {
    record: count <= RECORDED_REFUSALS_PER_MINUTE,
    last: count === RECORDED_REFUSALS_PER_MINUTE,
  };
}

/**
 * A delivery with a bad or missing signature: a `webhook_signature_invalid` security event
 * and a row in the webhook log (without its body), up to the per-minute budget.
 */
export async function recordRefusal(
  deps: { db: Database; audit: AuditLog; counters: Counters },
  request: FastifyRequest,
  channel: WebhookChannel,
  delivery: {
    source: ChannelType;
    sizeBytes: number;
    reason: 'missing' | 'invalid' | 'verify_token';
    topic?: string | null;
  },
): Promise<void> {
  const { source, reason } = delivery;
  const budget = await withinBudget(deps.counters, channel.id);
  if (!budget.record) return;
  const suppressing = budget.last;
  await recordRefusalEvent(deps.audit, request, {
    type: 'webhook_signature_invalid',
    orgId: channel.orgId,
    userId: null,
    metadata: { channelId: channel.id, source, reason, ...(suppressing ? { suppressing } : {}) },
  });
  try {
    await write();
  } catch (err) {
    // The sender is refused either way: a failing write must not turn the 403 into a 500.
    request.log.error({ err }, 'recording a webhook refusal failed');
  }
  async function write() {
    await recordDelivery(deps.db, {
      orgId: channel.orgId,
      channelId: channel.id,
      source,
      outcome: 'invalid_signature',
      statusCode: 403,
      sizeBytes: delivery.sizeBytes,
      topic: delivery.topic ?? null,
      detail: suppressing
        ? 'further refusals this minute are not recorded'
        : reason === 'verify_token'
          ? 'verify token mismatch'
          : `signature ${reason}`,
      requestId: request.id,
    });
  }
}
