import { customType, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const scopes = [
  'customers:read',
  'customers:write',
  'conversations:read',
  'conversations:write',
  'deals:read',
  'deals:write',
  'tickets:read',
  'tickets:write',
] as const;
export type Scope = (typeof scopes)[number];

export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  name: text('name').notNull(),
  keyHash: bytea('key_hash').notNull(),
  prefix: text('prefix').notNull(),
  scopes: text('scopes', { enum: scopes }).array().notNull(),
  createdBy: uuid('created_by'),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at'),
  lastUsedAt: ts('last_used_at'),
  revokedAt: ts('revoked_at'),
});
