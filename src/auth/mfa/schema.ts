import { z } from 'zod';
import { PASSWORD_MAX } from '../passwords.js';

/** A 6-digit TOTP code or a recovery code (xxxx-xxxx-xxxx-xxxx, case and dashes free). */
const code = z
  .string()
  .trim()
  .min(6)
  .max(64)
  .regex(/^[A-Za-z0-9 -]+$/, 'must be a 6-digit code or a recovery code');

export const setupBody = z.strictObject({}).nullish();

export const setupOut = z.object({ secret: z.string(), otpauthUrl: z.string() });

export const enableBody = z.strictObject({
  code: z.string().regex(/^[0-9]{6}$/, 'must be the 6-digit code from the authenticator app'),
});

export const enableOut = z.object({ recoveryCodes: z.array(z.string()) });

export const disableBody = z.strictObject({
  password: z
    .string()
    .min(1)
    .max(PASSWORD_MAX * 4),
  code,
});

export const loginMfaBody = z.strictObject({
  mfaToken: z.string().min(1).max(200),
  code,
});
