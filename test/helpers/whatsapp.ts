import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** Meta's signature: `sha256=` + hex HMAC-SHA256 of the exact bytes sent. */
export const hubSignature = (secret: string, body: string | Buffer) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export const wamid = () => `wamid.${randomBytes(18).toString('base64url')}`;

/** A Cloud API "messages" change, shaped as Meta documents it. */
export function whatsappChange(phoneNumberId: string, value: Record<string, unknown>) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

export function inboundText(
  phoneNumberId: string,
  opts: { from: string; id?: string; text?: string; name?: string },
) {
  return whatsappChange(phoneNumberId, {
    contacts: [{ profile: { name: opts.name ?? 'Sheena Nelson' }, wa_id: opts.from }],
    messages: [
      {
        from: opts.from,
        id: opts.id ?? wamid(),
        timestamp: String(Math.floor(Date.now() / 1000)),
        type: 'text',
        text: { body: opts.text ?? 'Does it come in another color?' },
      },
    ],
  });
}

export function statusUpdate(phoneNumberId: string, id: string, status: string, to: string) {
  return whatsappChange(phoneNumberId, {
    statuses: [
      {
        id,
        status,
        timestamp: String(Math.floor(Date.now() / 1000)),
        recipient_id: to,
        ...(status === 'failed'
          ? {
              errors: [{ code: 131050, title: 'Unable to deliver', message: 'Unable to deliver' }],
            }
          : {}),
      },
    ],
  });
}

/** Posts raw bytes to a channel's webhook, signed with `secret` unless headers say otherwise. */
export function postWebhook(
  app: FastifyInstance,
  channelId: string,
  body: string | Buffer,
  opts: { secret?: string; headers?: Record<string, string | string[]> } = {},
) {
  return app.inject({
    method: 'POST',
    url: `/webhooks/whatsapp/${channelId}`,
    headers: {
      'content-type': 'application/json',
      ...(opts.secret ? { 'x-hub-signature-256': hubSignature(opts.secret, body) } : {}),
      ...opts.headers,
    },
    payload: body,
  });
}

/** Polls until `probe` returns a value (webhook processing runs after the 200). */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
