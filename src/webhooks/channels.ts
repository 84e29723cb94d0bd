import { sql } from 'drizzle-orm';
import { rows, type Database } from '../db/client.js';
import { isUuid } from '../db/ids.js';
import {
  CHANNEL_APP_SECRET,
  CHANNEL_VERIFY_TOKEN,
  type ChannelType,
} from '../db/schema/whatsapp.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Bus } from '../infra/pubsub.js';

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
const INVALIDATE = 'bastion:channels:invalidate';

/**
 * Finds the channel a webhook URL names, through the webhook_channel SECURITY DEFINER
 * function (the organization is not known yet). Results are cached briefly, since Meta
 * can deliver thousands a second; deleting a channel evicts it on every instance at once.
 */
export class WebhookChannels {
  private readonly cache = new Map<string, { at: number; channel: WebhookChannel | null }>();

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring,
    private readonly bus: Bus,
  ) {}

  async start(): Promise<void> {
    await this.bus.subscribe(INVALIDATE, (id) => this.cache.delete(id));
  }

  async find(id: string): Promise<WebhookChannel | null> {
    if (!isUuid(id)) return null;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.channel;
    const [row] = await this.db.withoutOrg((tx) =>
      rows<Stored>(tx, sql`select * from webhook_channel(${id}::uuid)`),
    );
    const channel = row ? this.decrypt(id, row) : null;
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(id, { at: Date.now(), channel });
    return channel;
  }

  /** After a channel is deleted or its secrets change. */
  async invalidate(id: string): Promise<void> {
    this.cache.delete(id);
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
