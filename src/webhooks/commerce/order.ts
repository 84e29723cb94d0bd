import { z } from 'zod';
import { phone as e164 } from '../../http/schemas.js';
import { printable } from '../provider-text.js';

/**
 * The part of a WooCommerce order (REST API v3 shape) that the timeline needs, and nothing
 * more: addresses, line items and payment details are never read, so they are never stored.
 * Unknown keys are dropped, not refused: the store adds fields with every release.
 */
const money = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^-?\d{1,15}(\.\d{1,6})?$/));
const gmt = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
  .nullish();

export const wooOrder = z.object({
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  number: z
    .union([z.string(), z.number()])
    .transform(String)
    .pipe(z.string().regex(/^[^\p{Cc}]{1,64}$/u)),
  status: z.string().regex(/^[a-z0-9_-]{1,64}$/),
  currency: z.string().regex(/^[A-Z]{3}$/),
  total: money,
  date_created_gmt: gmt,
  date_modified_gmt: gmt,
  billing: z.object({
    first_name: z.string().max(500).nullish(),
    last_name: z.string().max(500).nullish(),
    email: z.string().max(500).nullish(),
    phone: z.string().max(100).nullish(),
  }),
});
export type WooOrder = z.infer<typeof wooOrder>;

/**
 * E.164 from what a shopper typed. A number without its country code is refused rather
 * than guessed: attaching the order to a same-digits customer of another country would
 * put one person's purchases on someone else's timeline.
 */
export function normalizePhone(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let p = raw.trim().replace(/[\s\-().]/g, '');
  if (p.startsWith('00')) p = `+${p.slice(2)}`;
  return e164.safeParse(p).success ? p : null;
}

export function customerFields(order: WooOrder, phone: string) {
  const { first_name: first, last_name: last, email: given } = order.billing;
  const email = z
    .email()
    .max(254)
    .safeParse(printable(given, 500) ?? '');
  return {
    name: printable(`${first ?? ''} ${last ?? ''}`),
    phone,
    email: email.success ? email.data.toLowerCase() : null,
  };
}

/** When the order event happened (WooCommerce's *_gmt fields carry no offset), else now. */
export function occurredAt(order: WooOrder, topic: string): Date {
  const at =
    topic === 'order.updated'
      ? (order.date_modified_gmt ?? order.date_created_gmt)
      : order.date_created_gmt;
  const d = at ? new Date(`${at}Z`) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

/**
 * What keeps an order from being used, by field name: the fields it lacks and those it has
 * in a shape this server cannot use. Names only: the values are a shopper's personal data.
 */
export function orderProblems(json: unknown, error: z.ZodError) {
  const missing = new Set<string>();
  const invalid = new Set<string>();
  for (const issue of error.issues) {
    const value = issue.path.reduce<unknown>(
      (v, key) =>
        v !== null && typeof v === 'object' && Object.hasOwn(v, key)
          ? (v as Record<PropertyKey, unknown>)[key]
          : undefined,
      json,
    );
    const name = issue.path.join('.') || 'the order itself';
    (value === undefined || value === null ? missing : invalid).add(name);
  }
  return { missing: [...missing], invalid: [...invalid] };
}
