/**
 * Drizzle's view of the channel, webhook, conversation and timeline tables (created by
 * migrations/0005_whatsapp.ts).
 */
import {
  customType,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const channelTypes = ['whatsapp', 'commerce'] as const;
export type ChannelType = (typeof channelTypes)[number];

/** Keyring associated-data labels: a ciphertext only decrypts in the column it was made for. */
export const CHANNEL_ACCESS_TOKEN = 'channels.access_token';
export const CHANNEL_APP_SECRET = 'channels.app_secret';
export const CHANNEL_VERIFY_TOKEN = 'channels.verify_token';

export const channels = pgTable('channels', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  type: text('type', { enum: channelTypes }).notNull(),
  name: text('name').notNull(),
  phoneNumberId: text('phone_number_id'),
  /** Keyring-encrypted (CHANNEL_ACCESS_TOKEN); WhatsApp only. */
  accessToken: text('access_token'),
  /** Keyring-encrypted (CHANNEL_APP_SECRET): Meta's app secret, or the commerce secret. */
  appSecret: text('app_secret'),
  /** Keyring-encrypted (CHANNEL_VERIFY_TOKEN); WhatsApp only. */
  verifyToken: text('verify_token'),
  createdBy: uuid('created_by'),
  createdAt: ts('created_at').notNull().defaultNow(),
  deletedAt: ts('deleted_at'),
});

export const deliveryOutcomes = [
  'pending',
  'processed',
  'dropped',
  'invalid_signature',
  'invalid_payload',
  'failed',
] as const;
export type DeliveryOutcome = (typeof deliveryOutcomes)[number];

export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  channelId: uuid('channel_id').notNull(),
  source: text('source', { enum: channelTypes }).notNull(),
  receivedAt: ts('received_at').notNull().defaultNow(),
  outcome: text('outcome', { enum: deliveryOutcomes }).notNull(),
  statusCode: integer('status_code').notNull(),
  sizeBytes: integer('size_bytes').notNull(),
  topic: text('topic'),
  body: bytea('body'),
  detail: text('detail'),
  requestId: text('request_id'),
  processedAt: ts('processed_at'),
});

export const conversationStatuses = ['open', 'closed'] as const;

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey(),
    organizationId: uuid('organization_id').notNull(),
    customerId: uuid('customer_id').notNull(),
    channelId: uuid('channel_id').notNull(),
    status: text('status', { enum: conversationStatuses }).notNull().default('open'),
    lastMessageAt: ts('last_message_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('conversations_customer_channel_key').on(t.organizationId, t.customerId, t.channelId),
  ],
);

export const messageStatuses = [
  'received',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
] as const;
export type MessageStatus = (typeof messageStatuses)[number];

export const messages = pgTable('messages', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  conversationId: uuid('conversation_id').notNull(),
  channelId: uuid('channel_id').notNull(),
  direction: text('direction', { enum: ['inbound', 'outbound'] }).notNull(),
  type: text('type').notNull(),
  body: text('body'),
  mediaId: text('media_id'),
  mediaMimeType: text('media_mime_type'),
  caption: text('caption'),
  waMessageId: text('wa_message_id'),
  recipient: text('recipient'),
  status: text('status', { enum: messageStatuses }).notNull(),
  error: jsonb('error').$type<{ code?: number; title?: string; message?: string } | null>(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: ts('next_attempt_at'),
  lockedUntil: ts('locked_until'),
  sentBy: uuid('sent_by'),
  sentAt: ts('sent_at'),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export const customerEvents = pgTable('customer_events', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  customerId: uuid('customer_id').notNull(),
  channelId: uuid('channel_id'),
  type: text('type').notNull(),
  sourceKey: text('source_key').notNull(),
  occurredAt: ts('occurred_at').notNull(),
  data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});
