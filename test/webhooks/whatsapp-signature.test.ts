import { createHmac } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { RECORDED_REFUSALS_PER_MINUTE } from '../../src/webhooks/refusals.js';
import { problemOf, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import { hubSignature, inboundText, postWebhook, wamid } from '../helpers/whatsapp.js';

let t: TestApp;
let owner: Member;
let channel: WhatsappChannel;

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Webhooks');
  channel = await createChannel(t.app, owner);
});
afterAll(() => t.close());

const deliveries = (outcome?: string) =>
  t.db.withOrg(owner.orgId, (tx) =>
    rows<{ n: number }>(
      tx,
      sql`select count(*)::int as n from webhook_deliveries
          where channel_id = ${channel.id} and (${outcome ?? null}::text is null or outcome = ${outcome ?? null})`,
    ),
  );
const countOf = async (outcome?: string) => (await deliveries(outcome))[0]!.n;
const messageCount = async () =>
  (
    await t.db.withOrg(owner.orgId, (tx) =>
      rows<{ n: number }>(
        tx,
        sql`select count(*)::int as n from messages where channel_id = ${channel.id}`,
      ),
    )
  )[0]!.n;

const body = () => JSON.stringify(inboundText(channel.phoneNumberId, { from: '16315551181' }));

describe('WhatsApp webhook signature (X-Hub-Signature-256)', () => {
  const attacks: [string, (b: string) => Record<string, string | string[]>][] = [
    ['no signature header', () => ({})],
    ['an empty header', () => ({ 'x-hub-signature-256': '' })],
    [
      'a signature made with the wrong secret',
      (b) => ({ 'x-hub-signature-256': hubSignature('not-the-secret', b) }),
    ],
    [
      "Meta's legacy sha1= scheme",
      (b) => ({
        'x-hub-signature-256': `sha1=${createHmac('sha1', channel.appSecret).update(b).digest('hex')}`,
      }),
    ],
    [
      'the sha1 digest in X-Hub-Signature only',
      (b) => ({
        'x-hub-signature': `sha1=${createHmac('sha1', channel.appSecret).update(b).digest('hex')}`,
      }),
    ],
    [
      'a duplicated header (valid + invalid)',
      (b) => ({
        'x-hub-signature-256': [hubSignature(channel.appSecret, b), hubSignature('x', b)],
      }),
    ],
    [
      'the valid header twice',
      (b) => ({
        'x-hub-signature-256': [
          hubSignature(channel.appSecret, b),
          hubSignature(channel.appSecret, b),
        ],
      }),
    ],
    [
      'the bare hex digest without sha256=',
      (b) => ({ 'x-hub-signature-256': hubSignature(channel.appSecret, b).slice(7) }),
    ],
    [
      'a truncated digest',
      (b) => ({ 'x-hub-signature-256': hubSignature(channel.appSecret, b).slice(0, 40) }),
    ],
    [
      'the digest in base64',
      (b) => ({
        'x-hub-signature-256': `sha256=${createHmac('sha256', channel.appSecret).update(b).digest('base64')}`,
      }),
    ],
    [
      'a signature of the empty body',
      () => ({ 'x-hub-signature-256': hubSignature(channel.appSecret, '') }),
    ],
  ];

  it.each(attacks)(
    'refuses %s: 403 invalid_signature, a security event, nothing stored',
    async (_n, headers) => {
      const b = body();
      const [before, msgs] = [await countOf('pending'), await messageCount()];
      const res = await postWebhook(t.app, channel.id, b, { headers: headers(b) });
      expect(res.statusCode).toBe(403);
      expect(problemOf(res).code).toBe('invalid_signature');
      expect(await countOf('pending')).toBe(before);
      expect(await messageCount()).toBe(msgs);
    },
  );

  it('refuses a body with one byte flipped after signing', async () => {
    const b = body();
    const flipped = Buffer.from(b);
    flipped[flipped.length - 5]! ^= 0x01;
    const res = await postWebhook(t.app, channel.id, flipped, {
      headers: { 'x-hub-signature-256': hubSignature(channel.appSecret, b) },
    });
    expect(res.statusCode).toBe(403);
  });

  it('accepts escaped unicode exactly as signed (the raw bytes, not a re-serialization)', async () => {
    const id = wamid();
    const raw = JSON.stringify(
      inboundText(channel.phoneNumberId, { from: '16315551182', id, text: 'caf\u00e9' }),
    ).replace('café', 'caf\\u00e9');
    expect(raw).toContain('caf\\u00e9');
    const res = await postWebhook(t.app, channel.id, raw, { secret: channel.appSecret });
    expect(res.statusCode).toBe(200);
  });

  it('judges JSON re-serialized by the sender on its own bytes', async () => {
    const payload = inboundText(channel.phoneNumberId, { from: '16315551183' });
    const signedBytes = JSON.stringify(payload, null, 2);
    const sentBytes = JSON.stringify(payload);
    const bad = await postWebhook(t.app, channel.id, sentBytes, {
      headers: { 'x-hub-signature-256': hubSignature(channel.appSecret, signedBytes) },
    });
    expect(bad.statusCode).toBe(403);
    const good = await postWebhook(t.app, channel.id, signedBytes, { secret: channel.appSecret });
    expect(good.statusCode).toBe(200);
  });

  it('records each refusal in the webhook log and as a webhook_signature_invalid event', async () => {
    const before = await countOf('invalid_signature');
    await postWebhook(t.app, channel.id, body());
    expect(await countOf('invalid_signature')).toBe(before + 1);
    const events = await t.app.inject({
      method: 'GET',
      url: '/api/v1/security-events?limit=100',
      headers: owner.auth,
    });
    const found = events
      .json<{ data: { type: string; metadata: Record<string, unknown> }[] }>()
      .data.filter((e) => e.type === 'webhook_signature_invalid');
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]!.metadata).toMatchObject({ channelId: channel.id, source: 'whatsapp' });
  });

  it('refuses a flood of unsigned requests but records at most 100 a minute per channel', async () => {
    const target = await createChannel(t.app, owner);
    const statuses = new Set<number>();
    for (let i = 0; i < RECORDED_REFUSALS_PER_MINUTE + 10; i++) {
      statuses.add((await postWebhook(t.app, target.id, body())).statusCode);
    }
    expect([...statuses]).toEqual([403]);
    const [logged] = await t.db.withOrg(owner.orgId, (tx) =>
      rows<{ n: number }>(
        tx,
        sql`select count(*)::int as n from webhook_deliveries where channel_id = ${target.id}`,
      ),
    );
    expect(logged!.n).toBe(RECORDED_REFUSALS_PER_MINUTE);
  });

  it('accepts 2.9 MiB and answers 413 to 3.5 MiB', async () => {
    const pad = (size: number) => {
      const base = inboundText(channel.phoneNumberId, { from: '16315551184' });
      const json = JSON.stringify({ ...base, padding: '' });
      return json.replace('"padding":""', `"padding":"${'x'.repeat(size - json.length)}"`);
    };
    const ok = pad(Math.floor(2.9 * 1024 * 1024));
    expect(
      (await postWebhook(t.app, channel.id, ok, { secret: channel.appSecret })).statusCode,
    ).toBe(200);
    const big = pad(Math.floor(3.5 * 1024 * 1024));
    const res = await postWebhook(t.app, channel.id, big, { secret: channel.appSecret });
    expect(res.statusCode).toBe(413);
    expect(problemOf(res).code).toBe('payload_too_large');
  });

  it('answers 404 for an unknown channel and 400 for a malformed id', async () => {
    const b = body();
    const unknown = await postWebhook(t.app, '0190f0f0-0000-7000-8000-000000000000', b, {
      secret: channel.appSecret,
    });
    expect(unknown.statusCode).toBe(404);
    const malformed = await postWebhook(t.app, 'not-a-uuid', b, { secret: channel.appSecret });
    expect(malformed.statusCode).toBe(400);
  });

  it('answers 400 to signed bytes that are not JSON, and logs them', async () => {
    const before = await countOf('invalid_payload');
    const res = await postWebhook(t.app, channel.id, '{"object":', { secret: channel.appSecret });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('invalid_json');
    expect(await countOf('invalid_payload')).toBe(before + 1);
  });
});

describe('WhatsApp verify handshake', () => {
  const verify = (q: string, id = channel.id) =>
    t.app.inject({ method: 'GET', url: `/webhooks/whatsapp/${id}?${q}` });

  it('echoes the challenge as text/plain when the verify token matches', async () => {
    const res = await verify(
      `hub.mode=subscribe&hub.verify_token=${encodeURIComponent(channel.verifyToken)}&hub.challenge=1158201444`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toBe('1158201444');
  });

  it.each([
    ['a wrong token', 'hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1'],
    ['no token', 'hub.mode=subscribe&hub.challenge=1'],
    [
      'another mode',
      () => `hub.mode=unsubscribe&hub.verify_token=${channel.verifyToken}&hub.challenge=1`,
    ],
    [
      'the token with a suffix',
      () => `hub.mode=subscribe&hub.verify_token=${channel.verifyToken}x&hub.challenge=1`,
    ],
  ])('refuses %s with 403', async (_n, q) => {
    const res = await verify(typeof q === 'function' ? q() : q);
    expect(res.statusCode).toBe(403);
    expect(problemOf(res).code).toBe('invalid_signature');
  });

  it("refuses another organization's verify token for this channel", async () => {
    const other = await registerOrg(t.app, 'Other');
    const theirs = await createChannel(t.app, other);
    const res = await verify(
      `hub.mode=subscribe&hub.verify_token=${theirs.verifyToken}&hub.challenge=1`,
    );
    expect(res.statusCode).toBe(403);
  });
});
