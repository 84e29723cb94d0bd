import type { FastifyInstance } from 'fastify';
import { createHmac, randomBytes } from 'node:crypto';

/** WooCommerce's signature: base64(HMAC-SHA256(secret, raw body)), or a variant of it. */
export const wooSign = (
  secret: string,
  body: string | Buffer,
  algo = 'sha256',
  enc: 'base64' | 'hex' | 'base64url' = 'base64',
) => createHmac(algo, secret).update(body).digest(enc);

/** A WooCommerce REST v3 order, with the addresses and line items we must never keep. */
export const wooOrder = (phone: string, over: Record<string, unknown> = {}) => ({
  id: 7000 + Math.floor(Math.random() * 1000),
  number: '7001',
  status: 'processing',
  currency: 'EUR',
  total: '42.50',
  date_created: '2026-11-20T17:28:02',
  date_created_gmt: '2026-11-20T16:28:02',
  date_modified_gmt: '2026-11-20T16:28:02',
  billing: {
    first_name: 'Ana',
    last_name: 'Souza',
    email: 'Ana.Souza@Example.test',
    phone,
    address_1: '12 Secret Street',
    city: 'Lisbon',
  },
  shipping: { address_1: '12 Secret Street' },
  line_items: [{ name: 'Blue kettle', quantity: 1, total: '42.50' }],
  ...over,
});

export interface WooDelivery {
  body: string | Buffer;
  topic?: string;
  /** null: no header; undefined: signed with the shop's secret. */
  signature?: string | string[] | null | undefined;
  deliveryId?: string;
  channelId?: string;
  contentType?: string;
}

/** Posts a delivery with the headers WooCommerce sends. */
export const deliverWoo = (
  app: FastifyInstance,
  shop: { id: string; secret: string },
  s: WooDelivery,
) =>
  app.inject({
    method: 'POST',
    url: `/webhooks/commerce/${s.channelId ?? shop.id}`,
    headers: {
      'content-type': s.contentType ?? 'application/json',
      'user-agent': 'WooCommerce/9.4 Hookshot (WordPress/6.7)',
      'x-wc-webhook-source': 'https://shop.example.test/',
      'x-wc-webhook-id': '12',
      'x-wc-webhook-delivery-id': s.deliveryId ?? randomBytes(16).toString('hex'),
      ...(s.topic !== undefined ? { 'x-wc-webhook-topic': s.topic } : {}),
      ...(s.topic
        ? {
            'x-wc-webhook-resource': s.topic.split('.')[0]!,
            'x-wc-webhook-event': s.topic.split('.')[1]!,
          }
        : {}),
      ...(s.signature === null
        ? {}
        : { 'x-wc-webhook-signature': s.signature ?? wooSign(shop.secret, s.body) }),
    },
    payload: s.body,
  });
