import { z } from 'zod';
import { channelTypes, deliveryOutcomes } from '../../db/schema/whatsapp.js';
import { listQuery, page, timestamp } from '../../http/schemas.js';

export const webhookLogQuery = listQuery.extend({
  channelId: z.uuid({ error: 'must be a UUID' }).optional(),
  outcome: z.enum(deliveryOutcomes).optional(),
});

/** What the log shows of a delivery. Never its body: that is customers' personal data. */
export const webhookLogOut = z.object({
  id: z.uuid(),
  channelId: z.uuid(),
  source: z.enum(channelTypes),
  receivedAt: timestamp,
  outcome: z.enum(deliveryOutcomes),
  statusCode: z.number().int(),
  sizeBytes: z.number().int(),
  topic: z.string().nullable(),
  detail: z.string().nullable(),
  requestId: z.string().nullable(),
  processedAt: timestamp.nullable(),
});

export const webhookLogPage = page(webhookLogOut);

export type WebhookLogQuery = z.infer<typeof webhookLogQuery>;
export type WebhookLogOut = z.infer<typeof webhookLogOut>;
