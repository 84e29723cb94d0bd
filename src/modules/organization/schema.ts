import { z } from 'zod';
import { organizationOut, text } from '../../http/schemas.js';

/** The organization's settings as its members see them. */
export const organizationSettingsOut = organizationOut.extend({ requireMfa: z.boolean() });

/** Strict: the id and slug are not settings, and unknown keys are refused. */
export const organizationPatch = z
  .strictObject({ name: text(200), requireMfa: z.boolean() })
  .partial()
  .refine((b) => Object.keys(b).length > 0, { message: 'at least one field is required' });

export type OrganizationSettings = z.infer<typeof organizationSettingsOut>;
export type OrganizationPatch = z.infer<typeof organizationPatch>;
