import { conversations, messages } from '../../db/schema/whatsapp.js';
import type { ConversationOut, MessageOut } from './schema.js';

/** The columns every message read selects, and their API shape (also the realtime payload). */
export const messageColumns = {
  id: messages.id,
  conversationId: messages.conversationId,
  channelId: messages.channelId,
  direction: messages.direction,
  type: messages.type,
  body: messages.body,
  mediaId: messages.mediaId,
  mediaMimeType: messages.mediaMimeType,
  caption: messages.caption,
  status: messages.status,
  error: messages.error,
  waMessageId: messages.waMessageId,
  sentBy: messages.sentBy,
  createdAt: messages.createdAt,
  updatedAt: messages.updatedAt,
};
export type MessageRow = Pick<typeof messages.$inferSelect, keyof typeof messageColumns>;

export const toMessageOut = (r: MessageRow): MessageOut => ({
  id: r.id,
  conversationId: r.conversationId,
  channelId: r.channelId,
  direction: r.direction,
  type: r.type,
  text: r.body,
  media: r.mediaId ? { id: r.mediaId, mimeType: r.mediaMimeType, caption: r.caption } : null,
  status: r.status,
  error: r.error ?? null,
  waMessageId: r.waMessageId,
  sentBy: r.sentBy,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

export const conversationColumns = {
  id: conversations.id,
  customerId: conversations.customerId,
  channelId: conversations.channelId,
  status: conversations.status,
  lastMessageAt: conversations.lastMessageAt,
  createdAt: conversations.createdAt,
  updatedAt: conversations.updatedAt,
};
export type ConversationRow = Pick<
  typeof conversations.$inferSelect,
  keyof typeof conversationColumns
>;

export const toConversationOut = (r: ConversationRow): ConversationOut => ({
  ...r,
  lastMessageAt: r.lastMessageAt?.toISOString() ?? null,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});
