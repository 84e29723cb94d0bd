import { z } from 'zod';
import { listQuery, page, timestamp } from '../../http/schemas.js';

export const timelineParams = z.strictObject({ id: z.uuid({ error: 'must be a UUID' }) });
export const timelineQuery = listQuery;

export const timelineEventOut = z.object({
  id: z.uuid(),
  type: z.string(),
  occurredAt: timestamp,
  channelId: z.uuid().nullable(),
  data: z.record(z.string(), z.unknown()),
});

export const timelinePage = page(timelineEventOut);

export type TimelineEventOut = z.infer<typeof timelineEventOut>;
