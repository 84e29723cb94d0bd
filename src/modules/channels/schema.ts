import { z } from 'zod';
import { channelTypes } from '../../db/schema/whatsapp.js';
import { listQuery, page, text, timestamp } from '../../http/schemas.js';

/** A credential as pasted by an admin: kept exactly (never trimmed), no control characters. */
const credential = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !/[\p{Cc}\s]/u.test(v), 'must not contain spaces or control characters');

export const whatsappChannelCreate = z.strictObject({
  type: z.literal('whatsapp'),
  name: text(100),
  phoneNumberId: z.string().regex(/^[0-9]{1,32}$/, "must be the number's Meta phone number id"),
  accessToken: credential(4096),
  appSecret: credential(256),
  verifyToken: credential(256),
});

export const commerceChannelCreate = z.strictObject({
  type: z.literal('commerce'),
  name: text(100),
  secret: credential(256),
});

export const channelCreate = z.discriminatedUnion('type', [
  whatsappChannelCreate,
  commerceChannelCreate,
]);

/** Never a secret: the response schema is what keeps one from leaking when columns grow. */
export const channelOut = z.object({
  id: z.uuid(),
  type: z.enum(channelTypes),
  name: z.string(),
  phoneNumberId: z.string().nullable(),
  webhookUrl: z.url(),
  createdAt: timestamp,
});

export const channelListQuery = listQuery.extend({ type: z.enum(channelTypes).optional() });
export const channelPage = page(channelOut);

export type ChannelCreate = z.infer<typeof channelCreate>;
export type ChannelOut = z.infer<typeof channelOut>;
