import type { z } from 'zod';
import { parseProviderJson, printable } from '../provider-text.js';
import {
  contact,
  inboundMessage,
  statusUpdate,
  valuesFor,
  whatsappPayload,
  type Contact,
  type InboundMessage,
  type StatusUpdate,
} from './payload.js';

/** Where one stored delivery came from. */
export interface IngestTarget {
  orgId: string;
  channelId: string;
  phoneNumberId: string;
}

export interface Inbound {
  channelId: string;
  name: string | null;
  message: InboundMessage;
}

/** What one delivery asks for, before any of it is written. */
export interface ParsedDelivery {
  outcome: 'processed' | 'dropped';
  detail: string | null;
  inbound: Inbound[];
  statuses: StatusUpdate[];
}

/** Meta's statuses; they only move forward (message_status_rank in the migration). */
const META_STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);

const dropped = (detail: string): ParsedDelivery => ({
  outcome: 'dropped',
  detail,
  inbound: [],
  statuses: [],
});

/** Reads one stored delivery; only changes addressed to the channel's own number count. */
export function parseDelivery(target: IngestTarget, body: Buffer): ParsedDelivery {
  let payload;
  try {
    payload = whatsappPayload.safeParse(parseProviderJson(body));
  } catch {
    return dropped('not JSON');
  }
  if (!payload.success) return dropped('not a WhatsApp payload');
  const values = valuesFor(payload.data, target.phoneNumberId);
  if (values.length === 0) return dropped("no change for this channel's phone number");
  let skipped = 0;
  const each = <T>(items: unknown[] | undefined, schema: z.ZodType<T>): T[] =>
    (items ?? []).flatMap((item) => {
      const parsed = schema.safeParse(item);
      if (!parsed.success) skipped++;
      return parsed.success ? [parsed.data] : [];
    });
  const inbound = values.flatMap((v) => {
    const contacts = each(v.contacts, contact);
    return each(v.messages, inboundMessage).map((message) => ({
      channelId: target.channelId,
      name: contactName(contacts, message.from),
      message,
    }));
  });
  const statuses = values
    .flatMap((v) => each(v.statuses, statusUpdate))
    .filter((s) => META_STATUSES.has(s.status));
  return {
    outcome: 'processed',
    detail: skipped > 0 ? `${skipped} item(s) not understood and skipped` : null,
    inbound,
    statuses,
  };
}

/** The sender's profile name as Meta gives it, as one printable line. */
const contactName = (contacts: Contact[], waId: string) =>
  printable(contacts.find((c) => c.wa_id === waId)?.profile?.name);
