import { z } from 'zod';
import { PASSWORD_MAX } from '../../auth/passwords.js';
import { roles } from '../../db/schema.js';
import { email, listQuery, page, text, userOut } from '../../http/schemas.js';

// Length and the common-password list are checked after parsing (weak_password, counted in
// code points); here only a hard cap, so an absurd body is refused before argon2 sees it.
const password = z
  .string()
  .min(1)
  .max(PASSWORD_MAX * 4);

/** Strict: a client can never set ids, the organization or mfaEnabled through these bodies. */
export const userCreate = z.strictObject({
  email,
  name: text(200),
  role: z.enum(roles),
  password,
});

export const userPatch = userCreate
  .partial()
  .refine((b) => Object.keys(b).length > 0, { message: 'at least one field is required' });

export const userListQuery = listQuery;
export const userPage = page(userOut);

export type UserCreate = z.infer<typeof userCreate>;
export type UserPatch = z.infer<typeof userPatch>;
export type UserOut = z.infer<typeof userOut>;
