import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { uuidv7 } from '../../src/db/ids.js';
import { recordDelivery } from '../../src/webhooks/deliveries.js';
import { createCustomer, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import {
  eventually,
  inboundText,
  postWebhook,
  statusUpdate,
  wamid,
  whatsappChange,
} from '../helpers/whatsapp.js';

let t: TestApp;
let owner: Member;
let channel: WhatsappChannel;
let waSeq = 0;
/** A wa_id unique to this test run. */
const newWaId = () =>
  `1631${String(process.pid % 10_000).padStart(4, '0')}${String(++waSeq).padStart(4, '0')}`;

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Inbox');
  channel = await createChannel(t.app, owner);
});
afterAll(() => t.close());

interface StoredMessage {
  id: string;
  conversation_id: string;
  direction: string;
  type: string;
  body: string | null;
  media_id: string | null;
  media_mime_type: string | null;
  caption: string | null;
  status: string;
  error: { code?: number } | null;
}

const query = <R>(m: Member, q: ReturnType<typeof sql>) =>
  t.db.withOrg(m.orgId, (tx) => rows<R>(tx, q));
const messagesByWaId = (m: Member, id: string) =>
  query<StoredMessage>(m, sql`select * from messages where wa_message_id = ${id}`);
const send = (ch: WhatsappChannel, payload: unknown) =>
  postWebhook(t.app, ch.id, JSON.stringify(payload), { secret: ch.appSecret });
/** Waits until every delivery of the channel has been processed (the work after the 200). */
const settled = (ch: WhatsappChannel, m: Member = owner) =>
  eventually(async () => {
    const [r] = await query<{ n: number }>(
      m,
      sql`select count(*)::int as n from webhook_deliveries where channel_id = ${ch.id} and outcome = 'pending'`,
    );
    return r!.n === 0 ? true : undefined;
  });

describe('inbound WhatsApp messages', () => {
  it('creates the customer (by wa_id), the conversation and the message', async () => {
    const from = newWaId();
    const id = wamid();
    const res = await send(
      channel,
      inboundText(channel.phoneNumberId, { from, id, text: 'Hello!', name: 'Ada' }),
    );
    expect(res.statusCode).toBe(200);
    await settled(channel);
    const [msg] = await messagesByWaId(owner, id);
    expect(msg).toMatchObject({
      direction: 'inbound',
      type: 'text',
      body: 'Hello!',
      status: 'received',
    });
    const customers = await t.app.inject({
      method: 'GET',
      url: `/api/v1/customers?search=${encodeURIComponent(`+${from}`)}`,
      headers: owner.auth,
    });
    expect(customers.json().data).toEqual([
      expect.objectContaining({ phone: `+${from}`, name: 'Ada' }),
    ]);
    const [conv] = await query<{ customer_id: string; status: string }>(
      owner,
      sql`select customer_id, status from conversations where id = ${msg!.conversation_id}`,
    );
    expect(conv).toMatchObject({ customer_id: customers.json().data[0].id, status: 'open' });
  });

  it('files a message from a known customer under that customer', async () => {
    const from = newWaId();
    const customer = await createCustomer(t.app, owner, { phone: `+${from}`, name: 'Known' });
    const id = wamid();
    await send(channel, inboundText(channel.phoneNumberId, { from, id }));
    await settled(channel);
    const [row] = await query<{ customer_id: string; name: string }>(
      owner,
      sql`select c.customer_id, cu.name from messages m join conversations c on c.id = m.conversation_id
          join customers cu on cu.id = c.customer_id where m.wa_message_id = ${id}`,
    );
    expect(row).toEqual({ customer_id: customer.id, name: 'Known' });
  });

  it('stores a replayed delivery once (Meta retries for days; the signature has no timestamp)', async () => {
    const id = wamid();
    const bytes = JSON.stringify(inboundText(channel.phoneNumberId, { from: newWaId(), id }));
    for (let i = 0; i < 3; i++) {
      const res = await postWebhook(t.app, channel.id, bytes, { secret: channel.appSecret });
      expect(res.statusCode).toBe(200);
    }
    await settled(channel);
    expect(await messagesByWaId(owner, id)).toHaveLength(1);
  });

  it('stores a message id seen before once, even inside a differently shaped delivery', async () => {
    const id = wamid();
    const from = newWaId();
    await send(channel, inboundText(channel.phoneNumberId, { from, id, text: 'first' }));
    await send(
      channel,
      inboundText(channel.phoneNumberId, { from, id, text: 'forged second copy' }),
    );
    await settled(channel);
    const stored = await messagesByWaId(owner, id);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.body).toBe('first');
  });

  it('stores the media id, type and caption of a media message', async () => {
    const id = wamid();
    const from = newWaId();
    await send(
      channel,
      whatsappChange(channel.phoneNumberId, {
        contacts: [{ profile: { name: 'Pic' }, wa_id: from }],
        messages: [
          {
            from,
            id,
            timestamp: '1749416383',
            type: 'image',
            image: {
              caption: 'the red one',
              mime_type: 'image/jpeg',
              sha256: 'abc',
              id: '1479537139650973',
            },
          },
        ],
      }),
    );
    await settled(channel);
    const [msg] = await messagesByWaId(owner, id);
    expect(msg).toMatchObject({
      type: 'image',
      body: null,
      media_id: '1479537139650973',
      media_mime_type: 'image/jpeg',
      caption: 'the red one',
    });
  });

  it('keeps the good messages of a delivery with one it does not understand', async () => {
    const from = newWaId();
    const [good, odd] = [wamid(), wamid()];
    await send(
      channel,
      whatsappChange(channel.phoneNumberId, {
        contacts: [{ profile: { name: 'Mixed' }, wa_id: from }],
        messages: [
          { from, id: odd, timestamp: '1'.repeat(21), type: 'text', text: { body: 'odd' } },
          { from, id: good, timestamp: '1749416383', type: 'text', text: { body: 'good' } },
        ],
      }),
    );
    await settled(channel);
    expect(await messagesByWaId(owner, good)).toHaveLength(1);
    expect(await messagesByWaId(owner, odd)).toHaveLength(0);
  });

  it('reopens a closed conversation when the customer writes again', async () => {
    const from = newWaId();
    const first = wamid();
    await send(channel, inboundText(channel.phoneNumberId, { from, id: first }));
    await settled(channel);
    const [msg] = await messagesByWaId(owner, first);
    await query(
      owner,
      sql`update conversations set status = 'closed' where id = ${msg!.conversation_id}`,
    );
    await send(channel, inboundText(channel.phoneNumberId, { from, id: wamid() }));
    await settled(channel);
    const [conv] = await query<{ status: string }>(
      owner,
      sql`select status from conversations where id = ${msg!.conversation_id}`,
    );
    expect(conv!.status).toBe('open');
  });

  it("acknowledges and drops a payload naming another phone_number_id than the channel's", async () => {
    const id = wamid();
    const res = await send(channel, inboundText('999999999999', { from: newWaId(), id }));
    expect(res.statusCode).toBe(200);
    await settled(channel);
    expect(await messagesByWaId(owner, id)).toHaveLength(0);
    const [log] = await query<{ outcome: string }>(
      owner,
      sql`select outcome from webhook_deliveries where channel_id = ${channel.id} order by id desc limit 1`,
    );
    expect(log!.outcome).toBe('dropped');
  });
});

describe('recovery of deliveries left pending', () => {
  it('processes a stored delivery nobody scheduled (a crash after the commit), cache cold', async () => {
    const id = wamid();
    const body = Buffer.from(
      JSON.stringify(inboundText(channel.phoneNumberId, { from: newWaId(), id })),
    );
    await t.app.ctx.webhookChannels.invalidate(channel.id);
    // Written as the route writes it, but never handed to the processor: only the sweep finds it.
    await recordDelivery(t.db, {
      orgId: owner.orgId,
      channelId: channel.id,
      source: 'whatsapp',
      outcome: 'pending',
      statusCode: 200,
      sizeBytes: body.length,
      body,
      requestId: 'recovery-test',
    });
    await settled(channel);
    expect(await messagesByWaId(owner, id)).toHaveLength(1);
  });
});

describe('message status updates', () => {
  async function outbound(ch: WhatsappChannel, m: Member, status = 'sent') {
    const waId = wamid();
    const from = newWaId();
    await send(ch, inboundText(ch.phoneNumberId, { from, id: wamid() }));
    await settled(ch, m);
    const [conv] = await query<{ id: string }>(
      m,
      sql`select c.id from conversations c join customers cu on cu.id = c.customer_id
          where cu.phone = ${`+${from}`} and c.channel_id = ${ch.id}`,
    );
    await query(
      m,
      sql`insert into messages (id, organization_id, conversation_id, channel_id, direction, type, body, wa_message_id, status)
          values (${uuidv7()}, ${m.orgId}, ${conv!.id}, ${ch.id}, 'outbound', 'text', 'hi', ${waId}, ${status})`,
    );
    return { waId, to: from };
  }
  const statusOf = async (m: Member, waId: string) => (await messagesByWaId(m, waId))[0]!.status;

  it.each([
    [['delivered', 'read'], 'read'],
    [['read', 'delivered'], 'read'],
    [['read', 'sent'], 'read'],
    [['delivered', 'sent'], 'delivered'],
    [['delivered', 'delivered'], 'delivered'],
    [['failed'], 'failed'],
  ])('applies %j in that order as %s (statuses never move backwards)', async (sequence, final) => {
    const { waId, to } = await outbound(channel, owner);
    for (const s of sequence) {
      expect(
        (await send(channel, statusUpdate(channel.phoneNumberId, waId, s, to))).statusCode,
      ).toBe(200);
      await settled(channel);
    }
    expect(await statusOf(owner, waId)).toBe(final);
  });

  it('applies a status that arrived before the send worker stored the message id', async () => {
    const { waId, to } = await outbound(channel, owner);
    // As if the worker had not yet written the id the Graph API answered with.
    await query(
      owner,
      sql`update messages set wa_message_id = null, status = 'sending' where wa_message_id = ${waId}`,
    );
    await send(channel, statusUpdate(channel.phoneNumberId, waId, 'delivered', to));
    await settled(channel);
    const [early] = await query<{ n: number }>(
      owner,
      sql`select count(*)::int as n from early_statuses where wa_message_id = ${waId}`,
    );
    expect(early!.n).toBe(1);
    await query(
      owner,
      sql`update messages set wa_message_id = ${waId}, status = 'sent' where channel_id = ${channel.id} and wa_message_id is null and status = 'sending'`,
    );
    await eventually(async () =>
      (await statusOf(owner, waId)) === 'delivered' ? true : undefined,
    );
    const [left] = await query<{ n: number }>(
      owner,
      sql`select count(*)::int as n from early_statuses where wa_message_id = ${waId}`,
    );
    expect(left!.n).toBe(0);
  });

  it('keeps no early status for a message already past it', async () => {
    const { waId, to } = await outbound(channel, owner, 'read');
    await send(channel, statusUpdate(channel.phoneNumberId, waId, 'delivered', to));
    await settled(channel);
    const [early] = await query<{ n: number }>(
      owner,
      sql`select count(*)::int as n from early_statuses where wa_message_id = ${waId}`,
    );
    expect(early!.n).toBe(0);
    expect(await statusOf(owner, waId)).toBe('read');
  });

  it("keeps Meta's error with a failed status", async () => {
    const { waId, to } = await outbound(channel, owner);
    await send(channel, statusUpdate(channel.phoneNumberId, waId, 'failed', to));
    await settled(channel);
    expect((await messagesByWaId(owner, waId))[0]!.error).toMatchObject({ code: 131050 });
  });

  it("touches only this channel's messages, never another organization's", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const victimChannel = await createChannel(t.app, victim);
    const { waId, to } = await outbound(victimChannel, victim);
    // The attacker's own channel, its own secret, naming the victim's message id and even
    // the victim's phone number id.
    for (const phoneNumberId of [channel.phoneNumberId, victimChannel.phoneNumberId]) {
      const res = await send(channel, statusUpdate(phoneNumberId, waId, 'read', to));
      expect(res.statusCode).toBe(200);
    }
    await settled(channel);
    expect(await statusOf(victim, waId)).toBe('sent');
  });
});

describe('cross-organization deliveries', () => {
  it("refuses a delivery to another organization's channel signed with one's own secret", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const victimChannel = await createChannel(t.app, victim);
    const id = wamid();
    const res = await postWebhook(
      t.app,
      victimChannel.id,
      JSON.stringify(inboundText(victimChannel.phoneNumberId, { from: newWaId(), id })),
      { secret: channel.appSecret },
    );
    expect(res.statusCode).toBe(403);
    expect(await messagesByWaId(victim, id)).toHaveLength(0);
    expect(await messagesByWaId(owner, id)).toHaveLength(0);
  });

  it("drops a delivery on one's own channel that names another organization's number", async () => {
    const victim = await registerOrg(t.app, 'Victim');
    const victimChannel = await createChannel(t.app, victim);
    const id = wamid();
    const res = await send(
      channel,
      inboundText(victimChannel.phoneNumberId, { from: newWaId(), id }),
    );
    expect(res.statusCode).toBe(200);
    await settled(channel);
    expect(await messagesByWaId(victim, id)).toHaveLength(0);
    expect(await messagesByWaId(owner, id)).toHaveLength(0);
  });
});
