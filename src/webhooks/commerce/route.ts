import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { auditEntry } from '../../audit/request.js';
import type { Tx } from '../../db/client.js';
import type { DeliveryOutcome } from '../../db/schema/whatsapp.js';
import { AppError, validationFailed } from '../../security/errors.js';
import { SIGNED_WEBHOOK } from '../policy.js';
import { channelFromUrl, channelOf, type WebhookChannel } from '../channels.js';
import { recordDelivery, recordDeliveryIn, type DeliveryRecord } from '../deliveries.js';
import { parseProviderJson } from '../provider-text.js';
import { rawBodyOf } from '../raw-body.js';
import { recordRefusal, withinBudget } from '../refusals.js';
import { validWooSignature } from '../signature.js';
import * as order from './order.js';
import * as timeline from './timeline.js';

const params = z.strictObject({ channelId: z.uuid({ error: 'must be a UUID' }) });
const ORDER_TOPICS = new Set(['order.created', 'order.updated']);
/** WooCommerce's creation ping: a form body naming its webhook id, sent with no X-WC headers. */
const PING = /^webhook_id=[0-9]{1,20}$/;
const TOPIC = /^[a-z0-9_.]{1,100}$/;

const header = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);

interface Delivery {
  channel: WebhookChannel;
  request: FastifyRequest;
  body: Buffer;
  topic: string | null;
}

const entry = (d: Delivery, outcome: DeliveryOutcome, statusCode: number, detail?: string | null) =>
  ({
    orgId: d.channel.orgId,
    channelId: d.channel.id,
    source: 'commerce',
    outcome,
    statusCode,
    sizeBytes: d.body.length,
    topic: d.topic,
    detail: detail ?? null,
    requestId: d.request.id,
  }) satisfies DeliveryRecord;

/** The log row of a delivery with no other effect (refused, dropped, or a ping). */
const log = (d: Delivery, outcome: DeliveryOutcome, statusCode: number, detail?: string) =>
  recordDelivery(d.request.server.ctx.db, entry(d, outcome, statusCode, detail));

/** The log row written in the same transaction as the delivery's effect: both or neither. */
const logIn = (tx: Tx, d: Delivery, outcome: DeliveryOutcome, detail: string | null) =>
  recordDeliveryIn(tx, entry(d, outcome, 200, detail));

const ok = (reply: FastifyReply) => reply.code(200).send();

/**
 * WooCommerce webhooks (CONTRACT section 7). The store signs the raw body with the
 * channel's secret; nothing is parsed before that signature holds, since the body is
 * attacker-controlled until then. The signature covers the body only (not the headers, and
 * no timestamp), so a replayed body must be harmless: the timeline entry is keyed on the
 * body's hash, and a body seen before changes nothing.
 */
export const commerceWebhook: FastifyPluginAsyncZod = async (app) => {
  const { db, audit } = app.ctx;

  const onRequest = channelFromUrl('commerce');
  app.post(
    '/commerce/:channelId',
    { config: SIGNED_WEBHOOK, onRequest, schema: { hide: true, params } },
    async (request, reply) => {
      const channel = channelOf(request);
      const h = request.headers;
      const body = rawBodyOf(request.body);
      const rawTopic = header(h['x-wc-webhook-topic']);
      const topic = rawTopic && TOPIC.test(rawTopic) ? rawTopic : null;
      const d: Delivery = { channel, request, body, topic };
      const signature = h['x-wc-webhook-signature'];

      if (!channel.secret || !validWooSignature(signature, channel.secret, body)) {
        // WooCommerce sends its creation ping unsigned. Answering it has no effect beyond
        // this log row (the same as a refused delivery leaves), so it opens nothing.
        if (signature === undefined && PING.test(body.toString('latin1'))) {
          // Unsigned, so it spends the channel's refusal budget: no unbounded writes.
          if ((await withinBudget(app.ctx.counters, channel.id)).record) {
            await log(d, 'dropped', 200, 'unsigned ping from webhook creation: nothing done');
          }
          return ok(reply);
        }
        const reason = signature === undefined ? 'missing' : 'invalid';
        const refused = { source: 'commerce', sizeBytes: body.length, reason, topic } as const;
        await recordRefusal(app.ctx, request, channel, refused);
        throw new AppError('invalid_signature');
      }

      if (PING.test(body.toString('latin1'))) {
        await log(d, 'dropped', 200, 'ping: nothing done');
        return ok(reply);
      }
      if (!topic || !ORDER_TOPICS.has(topic)) {
        await log(d, 'dropped', 200, 'topic not handled');
        return ok(reply);
      }

      let json: unknown;
      try {
        json = parseProviderJson(body);
      } catch {
        await log(d, 'invalid_payload', 400, 'body is not valid JSON');
        throw new AppError('invalid_json');
      }
      const parsed = order.wooOrder.safeParse(json);
      if (!parsed.success) {
        const { missing, invalid } = order.orderProblems(json, parsed.error);
        const why = [
          ...(missing.length > 0 ? [`missing: ${missing.join(', ')}`] : []),
          ...(invalid.length > 0 ? [`not usable: ${invalid.join(', ')}`] : []),
        ].join('; ');
        await log(d, 'invalid_payload', 400, `order fields ${why}`);
        throw validationFailed(
          [
            ...missing.map((path) => ({ path, message: 'missing' })),
            ...invalid.map((path) => ({ path, message: 'not in the form this server reads' })),
          ],
          `The order cannot be recorded: fields ${why}`,
        );
      }
      const phone = order.normalizePhone(parsed.data.billing.phone);
      if (!phone) {
        await log(d, 'dropped', 200, 'billing phone missing or without a country code');
        return ok(reply);
      }

      await processOrder(d, topic, parsed.data, phone);
      return ok(reply);
    },
  );

  async function processOrder(d: Delivery, topic: string, o: order.WooOrder, phone: string) {
    const { orgId, id: channelId } = d.channel;
    const hash = createHash('sha256').update(d.body).digest('hex');
    // The body's hash alone: the topic header is not signed, so a replayed body under the
    // other topic must not count as a new event.
    const sourceKey = `commerce:${channelId}:${hash}`;
    try {
      await db.withOrg(orgId, async (tx) => {
        if (await timeline.eventExists(tx, orgId, sourceKey)) {
          return logIn(tx, d, 'dropped', 'duplicate: this order event is already recorded');
        }
        const customer = await timeline.upsertCustomer(tx, orgId, order.customerFields(o, phone));
        const at = order.occurredAt(o, topic);
        const event = { orgId, customerId: customer.id, channelId, type: topic, sourceKey, at };
        const added = await timeline.insertEvent(tx, { ...event, order: o });
        const entry = {
          orgId,
          actorId: null,
          action: customer.inserted ? 'customer.created' : 'customer.updated',
          targetType: 'customer',
          targetId: customer.id,
          metadata: { source: 'commerce', channelId },
        };
        await audit.record(tx, auditEntry(d.request, entry));
        await logIn(tx, d, added ? 'processed' : 'dropped', added ? null : 'duplicate');
      });
    } catch (err) {
      // Not acknowledged, so WooCommerce will count a failure; the log says so.
      d.request.log.error({ err }, 'commerce delivery failed');
      await log(d, 'failed', 500, 'processing failed').catch(() => undefined);
      throw err;
    }
  }
};
