import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { DeliveryWriter } from '../../src/webhooks/delivery-writer.js';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { createChannel, type WhatsappChannel } from '../helpers/channels.js';
import { refuseRows } from '../helpers/faults.js';

/**
 * Issue 9: signed deliveries are stored many per INSERT (group commit). A row the database
 * refuses on its own must not fail every delivery batched beside it (each of those would
 * be a 500 and a retry from Meta): the batch is then written row by row, and only the row
 * at fault is refused. The writer is driven directly, so that the batch is certain to form:
 * rows written while its transactions are all in flight share the next INSERT.
 */
let t: TestApp;
let owner: Member;
let channel: WhatsappChannel;

beforeAll(async () => {
  t = await testApp();
  owner = await registerOrg(t.app, 'Batches');
  channel = await createChannel(t.app, owner);
});
afterAll(() => t.close());

const BURST = 30;
const POISONED_SIZE = 987_654;

describe('the group-commit delivery writer', () => {
  it('refuses only the row the database refuses; the rows batched with it are stored', async () => {
    const undo = await refuseRows(
      t.db,
      'webhook_deliveries',
      'insert',
      `new.size_bytes = ${POISONED_SIZE}`,
    );
    try {
      const writer = new DeliveryWriter(t.db);
      const written = await Promise.allSettled(
        Array.from({ length: BURST }, (_, i) =>
          writer.write({
            orgId: owner.orgId,
            channelId: channel.id,
            source: 'whatsapp',
            outcome: 'dropped',
            statusCode: 200,
            sizeBytes: i === BURST - 1 ? POISONED_SIZE : i,
            requestId: `batch-${i}`,
          }),
        ),
      );
      expect(written.map((w) => w.status)).toEqual([
        ...Array<string>(BURST - 1).fill('fulfilled'),
        'rejected',
      ]);
      const [stored] = await t.db.withOrg(owner.orgId, (tx) =>
        rows<{ n: number }>(
          tx,
          sql`select count(*)::int as n from webhook_deliveries
              where channel_id = ${channel.id} and request_id like 'batch-%'`,
        ),
      );
      expect(stored!.n).toBe(BURST - 1);
    } finally {
      await undo();
    }
  });
});
