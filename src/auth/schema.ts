import { z } from 'zod';
import { email, organizationOut, text, userOut } from '../http/schemas.js';
import { PASSWORD_MAX } from './passwords.js';

// Length is checked after parsing (weak_password, in code points); here only a hard cap,
// generous for multi-byte characters, so an absurd body is refused before argon2 sees it.
const password = z
  .string()
  .min(1)
  .max(PASSWORD_MAX * 4);

export const registerBody = z.strictObject({
  organizationName: text(200),
  name: text(200),
  email,
  password,
});

export const loginBody = z.strictObject({ email: z.string().max(254), password });

export const authModeHeaders = z.object({
  'x-auth-mode': z.enum(['token', 'cookie']).optional(),
});

export const sessionOut = z.object({
  user: userOut,
  organization: organizationOut,
  expiresIn: z.number().int(),
  csrfToken: z.string().optional(),
  accessToken: z.string().optional(),
  refreshToken: z.string().optional(),
});

export const registerOut = sessionOut;

export const meOut = z.object({
  user: userOut,
  organization: organizationOut,
  sessionId: z.uuid(),
});

export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(200) }).partial();

export const refreshOut = z.object({
  expiresIn: z.number().int(),
  csrfToken: z.string().optional(),
  accessToken: z.string().optional(),
  refreshToken: z.string().optional(),
});

/** A TOTP code or a recovery code (xxxx-xxxx-xxxx-xxxx, case and dashes free). */
export const secondFactorCode = z
  .string()
  .trim()
  .min(6)
  .max(64)
  .regex(/^[A-Za-z0-9 -]+$/, 'must be a 6-digit code or a recovery code');

export const passwordBody = z.strictObject({
  currentPassword: password,
  newPassword: password,
  code: secondFactorCode.optional(),
});

export const emailBody = z.strictObject({
  currentPassword: password,
  newEmail: email,
  code: secondFactorCode.optional(),
});

export const emailOut = z.object({ user: userOut });

export const secretPassword = password;

export const revokedOut = z.object({ revoked: z.number().int() });

export const sessionItem = z.object({
  id: z.uuid(),
  createdAt: z.iso.datetime({ offset: true }),
  lastUsedAt: z.iso.datetime({ offset: true }),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean(),
});
