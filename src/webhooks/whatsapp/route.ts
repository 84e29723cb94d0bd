import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secretEquals } from '../../crypto/secret-equals.js';
import { AppError } from '../../security/errors.js';
import { SIGNED_WEBHOOK } from '../policy.js';
import { channelFromUrl, channelOf } from '../channels.js';
import { recordDelivery } from '../deliveries.js';
import { DeliveryWriter } from '../delivery-writer.js';
import { DeliveryProcessor } from './processor.js';
import { rawBodyOf } from '../raw-body.js';
import { recordRefusal } from '../refusals.js';
import { validHubSignature } from '../signature.js';
import { parseProviderJson } from '../provider-text.js';

const params = z.strictObject({ channelId: z.uuid({ error: 'must be a UUID' }) });
const verifyQuery = z.looseObject({
  'hub.mode': z.string().max(32).optional(),
  'hub.verify_token': z.string().max(512).optional(),
  'hub.challenge': z
    .string()
    .regex(/^[\x21-\x7e]{1,512}$/, 'must be printable')
    .optional(),
});

/**
 * Meta's WhatsApp Cloud API webhooks (CONTRACT section 7). The signature is checked on the
 * raw bytes, in constant time, before anything parses them, and fails closed: a channel
 * with no secret or a request with no header is refused. A valid delivery is committed to
 * the webhook log before its 200, then processed from there.
 */
export const whatsappWebhookRoutes: FastifyPluginAsync = async (base) => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { db, realtime } = app.ctx;
  const processor = new DeliveryProcessor(db, realtime, app.log);
  const writer = new DeliveryWriter(db);
  app.addHook('onReady', async () => processor.start());
  app.addHook('onClose', () => processor.close());
  const tags = ['webhooks'];

  const onRequest = channelFromUrl('whatsapp');

  app.get(
    '/whatsapp/:channelId',
    {
      config: SIGNED_WEBHOOK,
      onRequest,
      schema: { tags, summary: "Meta's subscription handshake", params, querystring: verifyQuery },
    },
    async (request, reply) => {
      const channel = channelOf(request);
      const q = request.query;
      const token = q['hub.verify_token'];
      const valid =
        q['hub.mode'] === 'subscribe' &&
        token !== undefined &&
        channel.verifyToken !== null &&
        secretEquals(token, channel.verifyToken);
      if (!valid || q['hub.challenge'] === undefined) {
        const refused = { source: 'whatsapp', sizeBytes: 0, reason: 'verify_token' } as const;
        await recordRefusal(app.ctx, request, channel, refused);
        throw new AppError('invalid_signature', 'The verify token does not match');
      }
      return reply.type('text/plain; charset=utf-8').send(q['hub.challenge']);
    },
  );

  app.post(
    '/whatsapp/:channelId',
    {
      config: SIGNED_WEBHOOK,
      onRequest,
      schema: { tags, summary: 'Inbound WhatsApp messages and statuses', params },
    },
    async (request, reply) => {
      const channel = channelOf(request);
      const body = rawBodyOf(request.body);
      const entry = {
        orgId: channel.orgId,
        channelId: channel.id,
        source: 'whatsapp' as const,
        sizeBytes: body.length,
        requestId: request.id,
      };
      const signature = request.headers['x-hub-signature-256'];
      if (!channel.secret || !validHubSignature(signature, channel.secret, body)) {
        const reason = signature === undefined ? 'missing' : 'invalid';
        const refused = { source: 'whatsapp', sizeBytes: body.length, reason } as const;
        await recordRefusal(app.ctx, request, channel, refused);
        throw new AppError('invalid_signature', 'The X-Hub-Signature-256 signature is not valid');
      }
      try {
        parseProviderJson(body);
      } catch {
        await recordDelivery(db, { ...entry, outcome: 'invalid_payload', statusCode: 400 });
        throw new AppError('invalid_json');
      }
      const id = await writer.write({ ...entry, outcome: 'pending', statusCode: 200, body });
      processor.schedule(channel.orgId, id);
      return reply.code(200).send({ received: true });
    },
  );
};
