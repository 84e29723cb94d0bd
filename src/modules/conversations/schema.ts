import { z } from 'zod';
import { conversationStatuses, messageStatuses } from '../../db/schema/whatsapp.js';
import { listQuery, page, timestamp } from '../../http/schemas.js';

export const messageOut = z.object({
  id: z.uuid(),
  conversationId: z.uuid(),
  channelId: z.uuid(),
  direction: z.enum(['inbound', 'outbound']),
  type: z.string(),
  text: z.string().nullable(),
  media: z
    .object({ id: z.string(), mimeType: z.string().nullable(), caption: z.string().nullable() })
    .nullable(),
  status: z.enum(messageStatuses),
  error: z
    .object({
      code: z.number().optional(),
      title: z.string().optional(),
      message: z.string().optional(),
    })
    .nullable(),
  waMessageId: z.string().nullable(),
  sentBy: z.uuid().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const conversationOut = z.object({
  id: z.uuid(),
  customerId: z.uuid(),
  channelId: z.uuid(),
  status: z.enum(conversationStatuses),
  lastMessageAt: timestamp.nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export type MessageOut = z.infer<typeof messageOut>;
export type ConversationOut = z.infer<typeof conversationOut>;

export const conversationListQuery = listQuery.extend({
  status: z.enum(conversationStatuses).optional(),
  customerId: z.uuid({ error: 'must be a UUID' }).optional(),
});

export const conversationCreate = z.strictObject({
  customerId: z.uuid({ error: 'must be a UUID' }),
  channelId: z.uuid({ error: 'must be a UUID' }),
});

export const conversationPatch = z.strictObject({ status: z.enum(conversationStatuses) });

/**
 * A message may span lines, so only line breaks and tabs of the control characters pass
 * (the others hide content in agents' screens and logs). 4096 is WhatsApp's text limit.
 */
export const messageCreate = z.strictObject({
  text: z
    .string()
    .min(1)
    .max(4096)
    .refine((v) => v.trim().length > 0, 'must not be blank')
    .refine((v) => !/[^\P{Cc}\n\r\t]/u.test(v), 'must not contain control characters'),
});

export const conversationPage = page(conversationOut);
export const messagePage = page(messageOut);

export type ConversationListQuery = z.infer<typeof conversationListQuery>;
