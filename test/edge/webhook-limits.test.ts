import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import { hubSignature, inboundText } from '../helpers/whatsapp.js';
import { newIp } from '../identity/helpers.js';
import { expectLimited, MAX, owner, spend } from './limit-helpers.js';

/**
 * Issue 9, finding 2: the webhook routes were outside every rate limit, so a flood of wrong
 * verify tokens or unsigned 3 MiB bodies from one address was never refused. CONTRACT
 * section 5: RATE_LIMIT_AUTH_IP_MAX counts them per address; a delivery answered 2xx after
 * a valid signature does not count, so a provider is never throttled by its own traffic.
 */
let t: TestApp;
let channel: WhatsappChannel;
beforeAll(async () => {
  t = await testApp({ RATE_LIMIT_AUTH_IP_MAX: String(MAX) });
  // Its own address: with Redis the per-address counters are shared by the whole run.
  channel = await createChannel(t.app, await owner(t.app, newIp()));
});
afterAll(() => t.close());

const url = () => `/webhooks/whatsapp/${channel.id}`;
const verify = (ip: string, token: string) =>
  t.app.inject({
    url: `${url()}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=42`,
    remoteAddress: ip,
  });
const deliver = (ip: string, body: string, signature?: string) =>
  t.app.inject({
    method: 'POST',
    url: url(),
    remoteAddress: ip,
    headers: {
      'content-type': 'application/json',
      ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
    },
    payload: body,
  });
const signed = (ip: string) => {
  const body = JSON.stringify(inboundText(channel.phoneNumberId, { from: '16315551181' }));
  return deliver(ip, body, hubSignature(channel.appSecret, body));
};
const unknownChannel = (ip: string) =>
  t.app.inject({
    method: 'POST',
    url: '/webhooks/whatsapp/00000000-0000-7000-8000-000000000000',
    remoteAddress: ip,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' },
    payload: '{}',
  });

describe('refused webhook requests count against their address', () => {
  it.each([
    ['wrong verify tokens', (ip: string) => verify(ip, 'guess')],
    ['unsigned deliveries', (ip: string) => deliver(ip, '{"object":"x"}')],
    ['badly signed deliveries', (ip: string) => deliver(ip, '{}', hubSignature('wrong', '{}'))],
    ['deliveries to unknown channels', unknownChannel],
  ])('refuses a flood of %s with 429, for that address only', async (_what, send) => {
    const ip = newIp();
    await spend(MAX, () => send(ip));
    expectLimited(await send(ip));
    // A real delivery from a spent address is refused too (its body is never read).
    expectLimited(await signed(ip));
    expect((await send(newIp())).statusCode).not.toBe(429);
  });

  it('refuses a spent address before reading a 3 MiB body', async () => {
    const ip = newIp();
    await spend(MAX, () => verify(ip, 'guess'));
    expectLimited(await deliver(ip, `{"pad":"${'x'.repeat(3 * 1024 * 1024 - 20)}"}`));
  });

  it('never counts a validly signed delivery: a provider is not throttled by its own traffic', async () => {
    const ip = newIp();
    await spend(MAX - 1, () => verify(ip, 'guess'));
    for (let i = 0; i < MAX * 3; i++) expect((await signed(ip)).statusCode).toBe(200);
    expect((await verify(ip, channel.verifyToken)).statusCode).toBe(200);
    expect((await verify(ip, 'guess')).statusCode).toBe(403);
    expectLimited(await verify(ip, 'guess'));
  });

  it('tells a refused caller its remaining budget', async () => {
    const res = await verify(newIp(), 'guess');
    expect(res.statusCode).toBe(403);
    expect(res.headers['ratelimit-limit']).toBe(String(MAX));
    expect(res.headers['ratelimit-remaining']).toBe(String(MAX - 1));
  });
});
