import { z } from 'zod';
import { email, listQuery, page, phone, text, timestamp } from '../../http/schemas.js';

const tags = z.array(text(50)).max(50);
const notes = z.string().max(10_000);

export const customerCreate = z.strictObject({
  name: text(200),
  phone,
  email: email.nullable().optional(),
  tags: tags.optional(),
  notes: notes.nullable().optional(),
});

export const customerPatch = customerCreate
  .partial()
  .refine((b) => Object.keys(b).length > 0, { message: 'at least one field is required' });

export const customerListQuery = listQuery.extend({
  search: z.string().trim().min(1).max(100).optional(),
});

export const customerOut = z.object({
  id: z.uuid(),
  name: z.string(),
  phone: z.string(),
  email: z.string().nullable(),
  tags: z.array(z.string()),
  notes: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const customerPage = page(customerOut);

export type CustomerCreate = z.infer<typeof customerCreate>;
export type CustomerPatch = z.infer<typeof customerPatch>;
export type CustomerOut = z.infer<typeof customerOut>;
