import { z } from 'zod';
import { roles } from '../db/schema.js';

/** Request and response schemas shared by every route table (CONTRACT section 2's conventions). */
export const idParams = z.strictObject({ id: z.uuid({ error: 'must be a UUID' }) });

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.uuid({ error: 'must be a cursor from a previous page' }).optional(),
});

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.uuid().nullable() });

export const timestamp = z.iso.datetime({ offset: true });

export const userOut = z.object({
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: z.enum(roles),
  mfaEnabled: z.boolean(),
});

export const organizationOut = z.object({ id: z.uuid(), name: z.string(), slug: z.string() });

/** Single-line text with no control characters (they hide content in logs and UIs). */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !/\p{Cc}/u.test(v), 'must not contain control characters');

export const email = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());

/** E.164 with the leading +: country code 1-9, then 6 to 14 more digits. */
export const phone = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, like +16315551181');
