import { z } from 'zod';
import { secondFactorCode as code, secretPassword as password } from '../schema.js';

export const setupBody = z.strictObject({}).nullish();

export const setupOut = z.object({ secret: z.string(), otpauthUrl: z.string() });

export const enableBody = z.strictObject({
  code: z.string().regex(/^[0-9]{6}$/, 'must be the 6-digit code from the authenticator app'),
  password,
});

export const enableOut = z.object({ recoveryCodes: z.array(z.string()) });

export const disableBody = z.strictObject({ password, code });

export const loginMfaBody = z.strictObject({
  mfaToken: z.string().min(1).max(200),
  code,
});
