import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import { literal, refuseRows } from '../helpers/faults.js';
import { eventually, postWebhook, wamid, whatsappChange } from '../helpers/whatsapp.js';

/**
 * Issue 9, security finding 6: one message whose text PostgreSQL cannot store (a NUL, a
 * lone UTF-16 surrogate) made the whole signed delivery fail on every retry, and the good
 * messages beside it were never stored. Meta's signed payloads are never refused for their
 * text: the offending characters become U+FFFD, and an item that still fails is set aside
 * alone, with its reason in the webhook log.
 */
let t: TestApp;
let owner: Member;
let channel: WhatsappChannel;
let waSeq = 0;
const newWaId = () =>
  `1632${String(process.pid % 10_000).padStart(4, '0')}${String(++waSeq).padStart(4, '0')}`;

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Text');
  channel = await createChannel(t.app, owner);
});
afterAll(() => t.close());

const query = <R>(q: ReturnType<typeof sql>) => t.db.withOrg(owner.orgId, (tx) => rows<R>(tx, q));

interface Sent {
  ids: string[];
  requestId: string;
}

/** One signed delivery of three messages from one customer; `middle` is the second's text. */
async function deliverThree(from: string, middle: string, name = 'Sheena'): Promise<Sent> {
  const ids = [wamid(), wamid(), wamid()];
  const texts = ['first', middle, 'third'];
  const payload = whatsappChange(channel.phoneNumberId, {
    contacts: [{ profile: { name }, wa_id: from }],
    messages: ids.map((id, i) => ({
      from,
      id,
      timestamp: '1749416383',
      type: 'text',
      text: { body: texts[i] },
    })),
  });
  // JSON.stringify writes NUL and lone surrogates as \u escapes, exactly as Meta may send them.
  const res = await postWebhook(t.app, channel.id, JSON.stringify(payload), {
    secret: channel.appSecret,
  });
  expect(res.statusCode).toBe(200);
  return { ids, requestId: String(res.headers['x-request-id']) };
}

/** The delivery's log row once it is no longer pending. */
const finished = (requestId: string, ms = 20_000) =>
  eventually(async () => {
    const [row] = await query<{ outcome: string; detail: string | null }>(
      sql`select outcome, detail from webhook_deliveries where request_id = ${requestId}`,
    );
    return row && row.outcome !== 'pending' ? row : undefined;
  }, ms);

const bodies = async (ids: string[]) => {
  const found = await query<{ wa_message_id: string; body: string }>(
    sql`select wa_message_id, body from messages where wa_message_id in ${ids}`,
  );
  return ids.map((id) => found.find((m) => m.wa_message_id === id)?.body);
};

describe('a signed WhatsApp delivery with text PostgreSQL cannot store (issue 9, finding 6)', () => {
  it.each([
    ['a NUL', 'before\u0000after', 'before\uFFFDafter'],
    ['a lone high surrogate', 'x\ud800y', 'x\uFFFDy'],
    ['a lone low surrogate', '\udc00', '\uFFFD'],
    ['both a NUL and a lone surrogate', '\u0000\ud83d', '\uFFFD\uFFFD'],
    ['an escaped backslash before u0000 (not a NUL)', '\\u0000', '\\u0000'],
    ['a valid surrogate pair (an emoji)', 'ok \ud83d\ude00', 'ok \ud83d\ude00'],
  ])('stores all three messages when the middle one has %s', async (_name, text, stored) => {
    const sent = await deliverThree(newWaId(), text);
    expect(await finished(sent.requestId)).toEqual({ outcome: 'processed', detail: null });
    expect(await bodies(sent.ids)).toEqual(['first', stored, 'third']);
  });

  it('stores the messages of a customer whose profile name has a NUL and a lone surrogate', async () => {
    const from = newWaId();
    const sent = await deliverThree(from, 'second', 'Ad\u0000a \ud800');
    expect(await finished(sent.requestId)).toEqual({ outcome: 'processed', detail: null });
    expect(await bodies(sent.ids)).toEqual(['first', 'second', 'third']);
    const [customer] = await query<{ name: string }>(
      sql`select name from customers where phone = ${`+${from}`}`,
    );
    expect(customer!.name).toBe('Ad\uFFFDa \uFFFD');
  });

  it('stores a profile name cut at 200 characters in the middle of an emoji', async () => {
    const from = newWaId();
    const sent = await deliverThree(from, 'second', `${'a'.repeat(199)}\u{1F600}`);
    expect(await finished(sent.requestId)).toEqual({ outcome: 'processed', detail: null });
    const [customer] = await query<{ name: string }>(
      sql`select name from customers where phone = ${`+${from}`}`,
    );
    expect(customer!.name).toBe('a'.repeat(199));
  });

  it('sets aside alone a message the database still refuses, stores the others, and says why', async () => {
    const poison = `refused-${wamid()}`;
    const undo = await refuseRows(t.db, 'messages', 'insert', `new.body = ${literal(poison)}`);
    try {
      const sent = await deliverThree(newWaId(), poison);
      const row = await finished(sent.requestId);
      expect(row.outcome).toBe('processed');
      expect(row.detail).toContain(sent.ids[1]);
      expect(row.detail).toContain('23514');
      expect(await bodies(sent.ids)).toEqual(['first', undefined, 'third']);
    } finally {
      await undo();
    }
  });

  it('gives up on a delivery the database keeps refusing, as failed with its body: not retried forever, not lost', async () => {
    const payload = JSON.stringify(
      whatsappChange(channel.phoneNumberId, { messages: [], padding: 'x'.repeat(4321) }),
    );
    const undo = await refuseRows(
      t.db,
      'webhook_deliveries',
      'update',
      `new.size_bytes = ${Buffer.byteLength(payload)} and new.outcome <> 'failed'`,
    );
    try {
      const res = await postWebhook(t.app, channel.id, payload, { secret: channel.appSecret });
      expect(res.statusCode).toBe(200);
      const requestId = String(res.headers['x-request-id']);
      expect(await finished(requestId, 40_000)).toMatchObject({ outcome: 'failed' });
      const [kept] = await query<{ size: number }>(
        sql`select length(body) as size from webhook_deliveries where request_id = ${requestId}`,
      );
      expect(kept!.size).toBe(Buffer.byteLength(payload));
    } finally {
      await undo();
    }
  }, 60_000);
});
