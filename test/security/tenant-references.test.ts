import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { uuidv7 } from '../../src/db/ids.js';
import { createCustomer, registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';

/**
 * Foreign key checks bypass row-level security: a plain `REFERENCES customers(id)` would let
 * a row of organization A point at B's customer if code passed B's id. The WhatsApp tables'
 * keys name (organization_id, id), so the database itself refuses such a link.
 */
let t: TestApp;
let a: Member;
let b: Member;
const ids = { customer: '', channel: '', conversation: '' };

beforeAll(async () => {
  t = await testApp();
  a = await registerOrg(t.app, 'A');
  b = await registerOrg(t.app, 'B');
  // B's rows, which A's code will try to reference.
  ids.customer = (await createCustomer(t.app, b)).id;
  ids.channel = (await createChannel(t.app, b)).id;
  ids.conversation = uuidv7();
  await t.db.withOrg(b.orgId, (tx) =>
    tx.execute(sql`insert into conversations (id, organization_id, customer_id, channel_id)
      values (${ids.conversation}, ${b.orgId}, ${ids.customer}, ${ids.channel})`),
  );
});
afterAll(() => t.close());

describe("rows cannot reference another organization's rows", () => {
  const mine = async () => ({
    customer: (await createCustomer(t.app, a)).id,
    channel: (await createChannel(t.app, a)).id,
  });

  it.each([
    [
      "a conversation with B's customer",
      (own: { customer: string; channel: string }) =>
        sql`insert into conversations (id, organization_id, customer_id, channel_id)
            values (${uuidv7()}, ${a.orgId}, ${ids.customer}, ${own.channel})`,
    ],
    [
      "a conversation on B's channel",
      (own: { customer: string; channel: string }) =>
        sql`insert into conversations (id, organization_id, customer_id, channel_id)
            values (${uuidv7()}, ${a.orgId}, ${own.customer}, ${ids.channel})`,
    ],
    [
      "a message in B's conversation",
      (own: { customer: string; channel: string }) =>
        sql`insert into messages (id, organization_id, conversation_id, channel_id, direction, type, status)
            values (${uuidv7()}, ${a.orgId}, ${ids.conversation}, ${own.channel}, 'outbound', 'text', 'queued')`,
    ],
    [
      "a timeline event of B's customer",
      () =>
        sql`insert into customer_events (id, organization_id, customer_id, type, source_key, occurred_at)
            values (${uuidv7()}, ${a.orgId}, ${ids.customer}, 'order.created', ${uuidv7()}, now())`,
    ],
    [
      "a webhook log row of B's channel",
      () =>
        sql`insert into webhook_deliveries (id, organization_id, channel_id, source, outcome, status_code, size_bytes)
            values (${uuidv7()}, ${a.orgId}, ${ids.channel}, 'whatsapp', 'dropped', 200, 0)`,
    ],
  ])('refuses %s (foreign key violation)', async (_name, insert) => {
    const own = await mine();
    const err: unknown = await t.db
      .withOrg(a.orgId, (tx) => rows(tx, insert(own)))
      .then(() => null)
      .catch((e: unknown) => e);
    expect(JSON.stringify(err) + String((err as Error | null)?.cause)).toMatch(/23503|foreign key/);
  });
});
