import { and, desc, eq, isNull, lt, type SQL } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { uuidv7 } from '../../db/ids.js';
import {
  CHANNEL_ACCESS_TOKEN,
  CHANNEL_APP_SECRET,
  CHANNEL_VERIFY_TOKEN,
  channels,
  type ChannelType,
} from '../../db/schema/whatsapp.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { ChannelCreate, ChannelOut } from './schema.js';

const columns = {
  id: channels.id,
  type: channels.type,
  name: channels.name,
  phoneNumberId: channels.phoneNumberId,
  createdAt: channels.createdAt,
};
type Row = Pick<typeof channels.$inferSelect, keyof typeof columns>;

/** The URL to paste into Meta's or the store's webhook settings. */
export const webhookUrl = (publicUrl: string, type: ChannelType, id: string) =>
  `${publicUrl.replace(/\/+$/, '')}/webhooks/${type}/${id}`;

const toOut = (publicUrl: string) => (r: Row) => ({
  ...r,
  webhookUrl: webhookUrl(publicUrl, r.type, r.id),
  createdAt: r.createdAt.toISOString(),
});

const live = (orgId: string) => and(eq(channels.organizationId, orgId), isNull(channels.deletedAt));

/** Each secret is sealed to its organization and column (AES-256-GCM associated data). */
function sealed(keyring: Keyring, orgId: string, input: ChannelCreate) {
  if (input.type === 'commerce') {
    return {
      phoneNumberId: null,
      accessToken: null,
      appSecret: keyring.encrypt(input.secret, orgId, CHANNEL_APP_SECRET),
      verifyToken: null,
    };
  }
  return {
    phoneNumberId: input.phoneNumberId,
    accessToken: keyring.encrypt(input.accessToken, orgId, CHANNEL_ACCESS_TOKEN),
    appSecret: keyring.encrypt(input.appSecret, orgId, CHANNEL_APP_SECRET),
    verifyToken: keyring.encrypt(input.verifyToken, orgId, CHANNEL_VERIFY_TOKEN),
  };
}

export async function create(
  tx: Tx,
  keyring: Keyring,
  publicUrl: string,
  orgId: string,
  createdBy: string | null,
  input: ChannelCreate,
): Promise<ChannelOut> {
  const [row] = await tx
    .insert(channels)
    .values({
      id: uuidv7(),
      organizationId: orgId,
      type: input.type,
      name: input.name,
      createdBy,
      ...sealed(keyring, orgId, input),
    })
    .returning(columns);
  return toOut(publicUrl)(row!);
}

export async function list(
  tx: Tx,
  publicUrl: string,
  orgId: string,
  q: { limit: number; cursor?: string | undefined; type?: ChannelType | undefined },
): Promise<ChannelOut[]> {
  const where: (SQL | undefined)[] = [live(orgId)];
  if (q.cursor) where.push(lt(channels.id, q.cursor));
  if (q.type) where.push(eq(channels.type, q.type));
  const rows = await tx
    .select(columns)
    .from(channels)
    .where(and(...where))
    .orderBy(desc(channels.id))
    .limit(q.limit + 1);
  return rows.map(toOut(publicUrl));
}

export async function get(
  tx: Tx,
  publicUrl: string,
  orgId: string,
  id: string,
): Promise<ChannelOut | undefined> {
  const [row] = await tx
    .select(columns)
    .from(channels)
    .where(and(live(orgId), eq(channels.id, id)));
  return row && toOut(publicUrl)(row);
}

/**
 * Deleting keeps the row (conversations and the audit trail point at it) but erases its
 * secrets: nothing can be sent with it, and no webhook for it is accepted again.
 */
export async function remove(tx: Tx, orgId: string, id: string): Promise<Row | undefined> {
  const [row] = await tx
    .update(channels)
    .set({ deletedAt: new Date(), accessToken: null, appSecret: null, verifyToken: null })
    .where(and(live(orgId), eq(channels.id, id)))
    .returning(columns);
  return row;
}
