import { z } from 'zod';

/**
 * The parts of Meta's WhatsApp Cloud API webhook payload that Bastion reads
 * (object whatsapp_business_account, entry[].changes[].value with field "messages").
 * Objects are loose: Meta adds fields over time, and an unknown field must not make a
 * genuine delivery fail. Everything read is bounded.
 */
const id = z.string().min(1).max(256);
const waId = z.string().regex(/^[1-9][0-9]{6,14}$/);

const media = z.looseObject({
  id,
  mime_type: z.string().max(255).optional(),
  caption: z.string().max(65_536).optional(),
});

export const inboundMessage = z.looseObject({
  from: waId,
  id,
  timestamp: z.string().max(20).optional(),
  type: z.string().regex(/^[a-z_]{1,32}$/),
  text: z.looseObject({ body: z.string().max(65_536) }).optional(),
  image: media.optional(),
  video: media.optional(),
  audio: media.optional(),
  document: media.optional(),
  sticker: media.optional(),
});

const statusError = z.looseObject({
  code: z.number().int().optional(),
  title: z.string().max(500).optional(),
  message: z.string().max(1000).optional(),
});

export const statusUpdate = z.looseObject({
  id,
  status: z.string().max(32),
  timestamp: z.string().max(20).optional(),
  recipient_id: z.string().max(32).optional(),
  errors: z.array(statusError).max(10).optional(),
});

const change = z.looseObject({
  field: z.string().max(64),
  value: z.looseObject({
    messaging_product: z.string().max(32).optional(),
    metadata: z.looseObject({ phone_number_id: z.string().max(64) }).optional(),
    // Items are checked one by one (inboundMessage, statusUpdate, contact): one odd item,
    // say a field Meta starts sending longer, must not take its neighbours down with it.
    contacts: z.array(z.unknown()).max(1000).optional(),
    messages: z.array(z.unknown()).max(1000).optional(),
    statuses: z.array(z.unknown()).max(1000).optional(),
  }),
});

export const contact = z.looseObject({
  wa_id: z.string().max(32),
  profile: z.looseObject({ name: z.string().max(256).optional() }).optional(),
});

export const whatsappPayload = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z.array(z.looseObject({ changes: z.array(change).max(100) })).max(100),
});

export type WhatsappPayload = z.infer<typeof whatsappPayload>;
export type InboundMessage = z.infer<typeof inboundMessage>;
export type StatusUpdate = z.infer<typeof statusUpdate>;
export type ChangeValue = z.infer<typeof change>['value'];
export type Contact = z.infer<typeof contact>;

/** The message-bearing values addressed to this phone number id; the rest is dropped. */
export function valuesFor(payload: WhatsappPayload, phoneNumberId: string): ChangeValue[] {
  return payload.entry.flatMap((e) =>
    e.changes
      .filter((c) => c.field === 'messages' && c.value.metadata?.phone_number_id === phoneNumberId)
      .map((c) => c.value),
  );
}

/** The media part of a message of a media type, if any. */
export function mediaOf(m: InboundMessage): z.infer<typeof media> | undefined {
  switch (m.type) {
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      return m[m.type];
    default:
      return undefined;
  }
}
