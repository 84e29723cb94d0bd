/**
 * Drizzle's view of the MFA tables (created by migrations/0003_mfa.ts): a user's TOTP
 * secret, their hashed recovery codes, and the pending second step of a sign-in.
 */
import { bigint, customType, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Keyring associated-data labels: a ciphertext only decrypts in the column it was made for. */
export const TOTP_SECRET = 'user_totp.secret';
export const TOTP_PENDING_SECRET = 'user_totp.pending_secret';

export const userTotp = pgTable('user_totp', {
  userId: uuid('user_id').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  /** The enrolled secret, keyring-encrypted; null until enrolment is confirmed. */
  secret: text('secret'),
  /** A secret from setup, keyring-encrypted, waiting for its first code. */
  pendingSecret: text('pending_secret'),
  /** The last TOTP time step accepted: a code of that step or an earlier one is a replay. */
  lastUsedStep: bigint('last_used_step', { mode: 'number' }),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export const mfaRecoveryCodes = pgTable('mfa_recovery_codes', {
  codeHash: bytea('code_hash').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  userId: uuid('user_id').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  usedAt: ts('used_at'),
});

export const mfaChallenges = pgTable('mfa_challenges', {
  tokenHash: bytea('token_hash').primaryKey(),
  organizationId: uuid('organization_id').notNull(),
  userId: uuid('user_id').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
  expiresAt: ts('expires_at').notNull(),
  failures: integer('failures').notNull().default(0),
  completedAt: ts('completed_at'),
});
