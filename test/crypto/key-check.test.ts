import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENCRYPTED_COLUMNS } from '../../src/crypto/rotate.js';
import { registerOrg } from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';
import { enrol, post } from '../mfa/helpers.js';
import { fatalMessage, startFailure, startServer } from '../ops/processes.js';
import { appOn, isolatedDatabase, newKey, type Isolated } from './helpers.js';

/**
 * Defect: a server started without a key id that stored values need came up, then every
 * webhook of those channels (and every sign-in needing those TOTP secrets) answered 500.
 */

const k1 = newKey('k1');
const k2 = newKey('k2');
let iso: Isolated;

beforeEach(async () => {
  iso = await isolatedDatabase();
});
afterEach(() => iso.drop());

/** A value in every encrypted column, all under k1; then every connection closed. */
async function seedUnderK1() {
  const db = await iso.open();
  const app = await appOn(db, k1, iso.dataDir);
  try {
    const owner = await registerOrg(app, 'Key check A');
    await createChannel(app, owner);
    await enrol(app, owner);
    const pending = await registerOrg(app, 'Key check B');
    expect((await post(app, '/auth/mfa/totp/setup', undefined, pending.auth)).statusCode).toBe(200);
  } finally {
    await app.close();
    await db.close();
  }
}

describe('start-up check of the key ids stored values need', () => {
  it('a start with only k2 stops, naming k1 and every column that needs it; with k2,k1 it starts', async () => {
    await seedUnderK1();
    const env = { DATA_DIR: iso.dataDir, ...iso.env };

    const refused = await startFailure({ ...env, ENCRYPTION_KEYS: k2 });
    expect(refused.code).toBe(1);
    const msg = fatalMessage(refused);
    expect(msg).toContain('ENCRYPTION_KEYS lacks key id(s) that stored values need: "k1"');
    // Every column of ENCRYPTED_COLUMNS, with its count: the SQL function must miss none.
    for (const c of ENCRYPTED_COLUMNS) expect(msg).toMatch(new RegExp(`${c.label}: 1\\b`));
    expect(refused.stderr).not.toContain(k1.split(':')[1]!);

    const server = await startServer({ ...env, ENCRYPTION_KEYS: `${k2},${k1}` });
    const stopped = await server.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
  }, 300_000);
});
