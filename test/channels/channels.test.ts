import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import {
  CHANNEL_ACCESS_TOKEN,
  CHANNEL_APP_SECRET,
  CHANNEL_VERIFY_TOKEN,
} from '../../src/db/schema/whatsapp.js';
import { problemOf, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, createCommerceChannel, newPhoneNumberId } from '../helpers/channels.js';
import { addMember } from '../members/members.js';

let t: TestApp;
let owner: Member;
let other: Member;

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Channels');
  other = await registerOrg(t.app, 'Attacker');
});
afterAll(() => t.close());

const get = (url: string, m: Member) =>
  t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: m.auth });

describe('channels', () => {
  it('connects a WhatsApp number and answers its webhook URL, never a secret', async () => {
    const ch = await createChannel(t.app, owner);
    expect(ch.webhookUrl).toBe(`https://bastion.test/webhooks/whatsapp/${ch.id}`);
    for (const res of [await get(`/channels/${ch.id}`, owner), await get('/channels', owner)]) {
      expect(res.statusCode).toBe(200);
      for (const secret of [ch.accessToken, ch.appSecret, ch.verifyToken]) {
        expect(res.body).not.toContain(secret);
      }
      expect(res.body).not.toMatch(/accessToken|appSecret|verifyToken|"secret"/);
    }
  });

  it('stores each credential encrypted and bound to its organization and column', async () => {
    const ch = await createChannel(t.app, owner);
    const [row] = await t.db.withOrg(owner.orgId, (tx) =>
      rows<{ access_token: string; app_secret: string; verify_token: string }>(
        tx,
        sql`select access_token, app_secret, verify_token from channels where id = ${ch.id}`,
      ),
    );
    const { keyring } = t.app.ctx;
    expect(row!.access_token).toMatch(/^v1\./);
    expect(row!.access_token).not.toContain(ch.accessToken);
    expect(keyring.decrypt(row!.access_token, owner.orgId, CHANNEL_ACCESS_TOKEN)).toBe(
      ch.accessToken,
    );
    expect(keyring.decrypt(row!.app_secret, owner.orgId, CHANNEL_APP_SECRET)).toBe(ch.appSecret);
    expect(keyring.decrypt(row!.verify_token, owner.orgId, CHANNEL_VERIFY_TOKEN)).toBe(
      ch.verifyToken,
    );
    // Moved to another organization or column, the ciphertext is useless.
    expect(() => keyring.decrypt(row!.app_secret, other.orgId, CHANNEL_APP_SECRET)).toThrow();
    expect(() => keyring.decrypt(row!.app_secret, owner.orgId, CHANNEL_ACCESS_TOKEN)).toThrow();
  });

  it('connects a commerce store', async () => {
    const shop = await createCommerceChannel(t.app, owner);
    const res = await get(`/channels/${shop.id}`, owner);
    expect(res.json()).toMatchObject({ type: 'commerce', phoneNumberId: null });
    expect(res.json().webhookUrl).toBe(`https://bastion.test/webhooks/commerce/${shop.id}`);
    expect(res.body).not.toContain(shop.secret);
  });

  it('refuses a second channel for the same phone number id (409)', async () => {
    const ch = await createChannel(t.app, owner);
    await expect(createChannel(t.app, owner, { phoneNumberId: ch.phoneNumberId })).rejects.toThrow(
      /409/,
    );
  });

  it.each([
    ['an unknown key', { organizationId: '00000000-0000-4000-8000-000000000000' }],
    ['an unknown type', { type: 'telegram' }],
    ['a phone number id that is not numeric', { phoneNumberId: '12ab' }],
    ['an empty app secret', { appSecret: '' }],
    ['a token with a newline', { accessToken: 'EAAG\nx' }],
    ['commerce fields on a whatsapp channel', { secret: 'x' }],
  ])('rejects %s (400) and creates nothing', async (_name, patch) => {
    const before = (await get('/channels?limit=100', owner)).json().data.length;
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/channels',
      headers: owner.auth,
      payload: {
        type: 'whatsapp',
        name: 'x',
        phoneNumberId: newPhoneNumberId(),
        accessToken: 'a',
        appSecret: 'b',
        verifyToken: 'c',
        ...patch,
      },
    });
    expect(res.statusCode).toBe(400);
    expect(problemOf(res).code).toBe('validation_failed');
    expect((await get('/channels?limit=100', owner)).json().data.length).toBe(before);
  });

  it.each(['agent', 'viewer'] as const)('is for admins: an %s gets 403', async (role) => {
    const member = await addMember(t.app, owner, role);
    expect((await get('/channels', member)).statusCode).toBe(403);
    await expect(createChannel(t.app, member)).rejects.toThrow(/403/);
  });

  it("answers 404 for another organization's channel, as for one that does not exist", async () => {
    const ch = await createChannel(t.app, owner);
    expect((await get(`/channels/${ch.id}`, other)).statusCode).toBe(404);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/channels/${ch.id}`,
      headers: other.auth,
    });
    expect(del.statusCode).toBe(404);
    expect((await get(`/channels/${ch.id}`, owner)).statusCode).toBe(200);
    expect((await get('/channels', other)).json().data).toEqual([]);
  });

  it('deletes a channel: its credentials are erased and its webhook is gone', async () => {
    const ch = await createChannel(t.app, owner);
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/channels/${ch.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    expect((await get(`/channels/${ch.id}`, owner)).statusCode).toBe(404);
    const [row] = await t.db.withOrg(owner.orgId, (tx) =>
      rows<{ secrets: number }>(
        tx,
        sql`select num_nonnulls(access_token, app_secret, verify_token)::int as secrets
            from channels where id = ${ch.id}`,
      ),
    );
    expect(row!.secrets).toBe(0);
    const verify = await t.app.inject({
      method: 'GET',
      url: `/webhooks/whatsapp/${ch.id}?hub.mode=subscribe&hub.verify_token=${ch.verifyToken}&hub.challenge=1`,
    });
    expect(verify.statusCode).toBe(404);
  });
});
