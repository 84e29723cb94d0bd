import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { Member } from './app.js';

export interface WhatsappChannel {
  id: string;
  webhookUrl: string;
  phoneNumberId: string;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

let phoneNumberSeq = 0;
/** A Meta phone number id unique to this test process. */
export const newPhoneNumberId = () =>
  `10${String(process.pid).padStart(7, '0')}${String(++phoneNumberSeq).padStart(6, '0')}`;

/** Connects a WhatsApp channel with fresh credentials, and returns them with it. */
export async function createChannel(
  app: FastifyInstance,
  member: Pick<Member, 'auth'>,
  overrides: Record<string, unknown> = {},
): Promise<WhatsappChannel> {
  const body = {
    type: 'whatsapp',
    name: 'Support line',
    phoneNumberId: newPhoneNumberId(),
    accessToken: `EAAG${randomBytes(24).toString('hex')}`,
    appSecret: randomBytes(16).toString('hex'),
    verifyToken: randomBytes(12).toString('base64url'),
    ...overrides,
  };
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/channels',
    headers: member.auth,
    payload: body,
  });
  if (res.statusCode !== 201)
    throw new Error(`channel create failed: ${res.statusCode} ${res.body}`);
  const out = res.json<{ id: string; webhookUrl: string }>();
  return { ...(body as Omit<WhatsappChannel, 'id' | 'webhookUrl'>), ...out };
}

/** Connects a commerce (WooCommerce) channel; returns its id and signing secret. */
export async function createCommerceChannel(
  app: FastifyInstance,
  member: Pick<Member, 'auth'>,
): Promise<{ id: string; secret: string; webhookUrl: string }> {
  const secret = randomBytes(24).toString('base64url');
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/channels',
    headers: member.auth,
    payload: { type: 'commerce', name: 'Shop', secret },
  });
  if (res.statusCode !== 201)
    throw new Error(`channel create failed: ${res.statusCode} ${res.body}`);
  const out = res.json<{ id: string; webhookUrl: string }>();
  return { id: out.id, webhookUrl: out.webhookUrl, secret };
}
