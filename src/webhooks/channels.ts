import { sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import { rows, type Database } from '../db/client.js';
import { isUuid } from '../db/ids.js';
import {
  CHANNEL_APP_SECRET,
  CHANNEL_VERIFY_TOKEN,
  type ChannelType,
} from '../db/schema/whatsapp.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Bus } from '../infra/pubsub.js';
import { notFound } from '../security/errors.js';

/** What a webhook needs of its channel, secrets decrypted. */
export interface WebhookChannel {
  id: string;
  orgId: string;
  type: ChannelType;
  phoneNumberId: string | null;
  /** Meta's app secret, or the commerce signing secret; null means refuse everything. */
  secret: string | null;
  verifyToken: string | null;
}

interface Stored {
  organization_id: string;
  type: ChannelType;
  phone_number_id: string | null;
  app_secret: string | null;
  verify_token: string | null;
}

const TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;
/** Unknown ids are remembered apart, so random ids cannot push real channels out. */
const MAX_MISSES = 1_000;
const INVALIDATE = 'bastion:channels:invalidate';

/**
 * Finds the channel a webhook URL names, through the webhook_channel SECURITY DEFINER
 * function (the organization is not known yet). Results are cached briefly, since Meta
 * can deliver thousands a second; deleting a channel evicts it on every instance at once.
 */
export class WebhookChannels {
  private readonly cache = new Map<string, { at: number; channel: WebhookChannel }>();
  private readonly misses = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring,
    private readonly bus: Bus,
  ) {}

  async start(): Promise<void> {
    await this.bus.subscribe(INVALIDATE, (id) => {
      this.cache.delete(id);
      this.misses.delete(id);
    });
  }

  async find(id: string): Promise<WebhookChannel | null> {
    if (!isUuid(id)) return null;
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && now - hit.at < TTL_MS) return hit.channel;
    const missed = this.misses.get(id);
    if (missed !== undefined && now - missed < TTL_MS) return null;
    const [row] = await this.db.withoutOrg((tx) =>
      rows<Stored>(tx, sql`select * from webhook_channel(${id}::uuid)`),
    );
    if (!row) {
      if (this.misses.size >= MAX_MISSES) this.misses.clear();
      this.misses.set(id, now);
      return null;
    }
    const channel = this.decrypt(id, row);
    this.cache.delete(id);
    // Oldest first out (a Map iterates in insertion order).
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, { at: now, channel });
    return channel;
  }

  /** After a channel is deleted or its secrets change. */
  async invalidate(id: string): Promise<void> {
    this.cache.delete(id);
    this.misses.delete(id);
    await this.bus.publish(INVALIDATE, id);
  }

  private decrypt(id: string, row: Stored): WebhookChannel {
    const open = (value: string | null, label: string) =>
      value === null ? null : this.keyring.decrypt(value, row.organization_id, label);
    return {
      id,
      orgId: row.organization_id,
      type: row.type,
      phoneNumberId: row.phone_number_id,
      secret: open(row.app_secret, CHANNEL_APP_SECRET),
      verifyToken: open(row.verify_token, CHANNEL_VERIFY_TOKEN),
    };
  }
}

const found = new WeakMap<FastifyRequest, WebhookChannel>();

/**
 * A route's onRequest hook: finds the channel its URL names, of the given type, before the
 * body is read, so a POST to an unknown channel costs no 3 MiB upload. Unknown: 404.
 */
export function channelFromUrl(type: ChannelType) {
  return async function findChannel(request: FastifyRequest): Promise<void> {
    const id = (request.params as { channelId?: unknown }).channelId;
    // A malformed id is left to the params schema (400), which runs later.
    if (typeof id !== 'string' || !isUuid(id)) return;
    const channel = await request.server.ctx.webhookChannels.find(id);
    if (!channel || channel.type !== type) throw notFound();
    found.set(request, channel);
  };
}

/** The channel channelFromUrl found for this request. */
export function channelOf(request: FastifyRequest): WebhookChannel {
  const channel = found.get(request);
  if (!channel) throw notFound();
  return channel;
}
