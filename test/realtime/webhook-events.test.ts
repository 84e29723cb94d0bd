import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';
import { inboundText, postWebhook, wamid } from '../helpers/whatsapp.js';
import { openSocket, wsUrl } from '../helpers/ws.js';

interface Created {
  type: string;
  data: { text: string | null; waMessageId: string | null; direction: string };
}

/**
 * Issue 5: a WhatsApp message arriving by webhook reaches the agents' sockets of its
 * organization (on whichever instance they are connected) and no other organization's.
 */
async function webhookReachesSockets(receiving: TestApp, posting: TestApp) {
  const a = await registerOrg(posting.app, 'A');
  const b = await registerOrg(posting.app, 'B');
  const channelA = await createChannel(posting.app, a);
  const channelB = await createChannel(posting.app, b);
  const url = await wsUrl(receiving.app);
  const socketA = await openSocket(url, a.auth);
  const socketB = await openSocket(url, b.auth);
  try {
    const id = wamid();
    const text = `<img src=x onerror=alert(1)> ${randomBytes(4).toString('hex')}`;
    const res = await postWebhook(
      posting.app,
      channelA.id,
      JSON.stringify(inboundText(channelA.phoneNumberId, { from: '16315550101', id, text })),
      { secret: channelA.appSecret },
    );
    expect(res.statusCode).toBe(200);
    // B's own delivery, sent after A's: B's socket must see it first and only it.
    const sentinel = wamid();
    await postWebhook(
      posting.app,
      channelB.id,
      JSON.stringify(inboundText(channelB.phoneNumberId, { from: '16315550102', id: sentinel })),
      { secret: channelB.appSecret },
    );
    const got = await socketA.nextMessage<Created>((m) => m.type === 'message.created', 10_000);
    expect(got.data).toMatchObject({ text, waMessageId: id, direction: 'inbound' });
    const forB = await socketB.nextMessage<Created>((m) => m.type === 'message.created', 10_000);
    expect(forB.data.waMessageId).toBe(sentinel);
  } finally {
    await Promise.all([socketA.close(), socketB.close()]);
  }
}

describe('webhook messages on the realtime socket', () => {
  it('reach the organization’s socket and no other organization’s', async () => {
    const t = await testApp();
    try {
      await webhookReachesSockets(t, t);
    } finally {
      await t.close();
    }
  });
});

describe.runIf(!!process.env.DATABASE_URL && !!process.env.REDIS_URL)('across instances', () => {
  it('a webhook on instance A reaches the socket on instance B, of its organization only', async () => {
    const shared = {
      JWT_SECRET: randomBytes(32).toString('base64url'),
      ENCRYPTION_KEYS: `s1:${randomBytes(32).toString('base64')}`,
    };
    const first = await testApp(shared);
    const second = await testApp(shared);
    try {
      await webhookReachesSockets(second, first);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
