import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ownerOf } from '../../src/db/owner.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { RotationError, rotateKeys } from '../../src/crypto/rotate.js';
import { rows, type Database } from '../../src/db/client.js';
import { PASSWORD, registerOrg } from '../helpers/app.js';
import { createChannel } from '../helpers/channels.js';
import { inboundText, postWebhook } from '../helpers/whatsapp.js';
import { challenge, codeAt, enrol, post, secondStep } from '../mfa/helpers.js';
import { appOn, isolatedDatabase, keyring, newKey, type Isolated } from './helpers.js';

/** CONTRACT section 1: `npx bastion keys rotate` re-encrypts every encrypted column. */

const ROOT = resolve(import.meta.dirname, '../..');
const k1 = newKey('k1');
const k2 = newKey('k2');

let iso: Isolated;
let db: Database;
let apps: FastifyInstance[];

beforeEach(async () => {
  iso = await isolatedDatabase();
  db = await iso.open();
  apps = [];
});
afterEach(async () => {
  for (const app of apps) await app.close();
  await db.close();
  await iso.drop();
});

const open = async (keys: string) => {
  const app = await appOn(db, keys, iso.dataDir);
  apps.push(app);
  return app;
};

/** Every encrypted value as the owner sees it: column, user, key id. */
async function stored() {
  const owner = ownerOf(db, iso.migrationUrl);
  try {
    return await owner.run((tx) =>
      rows<{ user_id: string; secret: string | null; pending_secret: string | null }>(
        tx,
        sql`select user_id::text, secret, pending_secret from user_totp order by user_id`,
      ),
    );
  } finally {
    await owner.close();
  }
}
const keyIds = (r: Awaited<ReturnType<typeof stored>>) =>
  r
    .flatMap((row) => [row.secret, row.pending_secret])
    .filter((v) => v !== null)
    .map((v) => Keyring.keyIdOf(v));

/** One user enrolled (active secret) and one half-way (pending secret), under k1. */
async function seed() {
  const app = await open(k1);
  const enrolled = await registerOrg(app, 'Rotate A');
  const mfa = await enrol(app, enrolled);
  const pending = await registerOrg(app, 'Rotate B');
  const setup = await post(app, '/auth/mfa/totp/setup', undefined, pending.auth);
  return { enrolled, mfa, pending, pendingSecret: setup.json().secret as string };
}

const rotate = async (keys: string) => {
  const owner = ownerOf(db, iso.migrationUrl);
  try {
    return await rotateKeys(owner.run, keyring(keys));
  } finally {
    await owner.close();
  }
};

describe('keys rotate', () => {
  it('re-encrypts pending and active TOTP secrets with the active key; then k1 can go', async () => {
    const { enrolled, mfa, pending, pendingSecret } = await seed();
    expect(keyIds(await stored())).toEqual(['k1', 'k1']);

    const report = await rotate(`${k2},${k1}`);
    expect(report.activeKeyId).toBe('k2');
    expect(report.rotated).toBe(2);
    expect(report.columns.map((c) => [c.label, c.rotated])).toEqual([
      ['user_totp.secret', 1],
      ['user_totp.pending_secret', 1],
      ['channels.access_token', 0],
      ['channels.app_secret', 0],
      ['channels.verify_token', 0],
    ]);
    expect(keyIds(await stored())).toEqual(['k2', 'k2']);
    expect((await rotate(`${k2},${k1}`)).rotated).toBe(0);

    // A server that no longer has k1 still reads every secret.
    const app = await open(k2);
    const signIn = await secondStep(
      app,
      await challenge(app, enrolled.email),
      await codeAt(mfa.secret, 1),
    );
    expect(signIn.statusCode, signIn.body).toBe(200);
    const enable = await post(
      app,
      '/auth/mfa/totp/enable',
      { code: await codeAt(pendingSecret), password: PASSWORD },
      pending.auth,
    );
    expect(enable.statusCode, enable.body).toBe(200);
  });

  it('re-encrypts channel credentials; a server with only the new key still verifies webhooks', async () => {
    const app1 = await open(k1);
    const owner = await registerOrg(app1, 'Rotate channels');
    const channel = await createChannel(app1, owner);
    const report = await rotate(`${k2},${k1}`);
    expect(report.columns.filter((c) => c.label.startsWith('channels.'))).toEqual([
      { label: 'channels.access_token', rotated: 1, present: true },
      { label: 'channels.app_secret', rotated: 1, present: true },
      { label: 'channels.verify_token', rotated: 1, present: true },
    ]);
    const app2 = await open(k2);
    const body = JSON.stringify(inboundText(channel.phoneNumberId, { from: '16315550199' }));
    const res = await postWebhook(app2, channel.id, body, { secret: channel.appSecret });
    expect(res.statusCode, res.body).toBe(200);
    const verify = await app2.inject({
      method: 'GET',
      url: `/webhooks/whatsapp/${channel.id}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(channel.verifyToken)}&hub.challenge=42`,
    });
    expect(verify.body).toBe('42');
  });

  it('names a value no configured key can decrypt, instead of claiming success', async () => {
    await seed();
    await expect(rotate(k2)).rejects.toThrow(/user_totp\.secret .*key id "k1"/);
    expect(keyIds(await stored())).toEqual(['k1', 'k1']);
  });

  it('refuses to run as a role that row-level security binds (it would find nothing)', async () => {
    await seed();
    const asApp = <T>(work: Parameters<typeof db.withoutOrg<T>>[0]) => db.withoutOrg(work);
    await expect(rotateKeys(asApp, keyring(`${k2},${k1}`))).rejects.toThrow(RotationError);
  });

  it('runs as `bastion keys rotate`, printing what it rotated, and is idempotent', async () => {
    await seed();
    for (const app of apps.splice(0)) await app.close();
    await db.close();
    const first = await cli(`${k2},${k1}`);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('rotated 2 value(s) to key k2');
    const second = await cli(`${k2},${k1}`);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('rotated 0 value(s) to key k2');
    db = await iso.open();
    expect(keyIds(await stored())).toEqual(['k2', 'k2']);
  }, 120_000);
});

function cli(keys: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'keys', 'rotate'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        DATA_DIR: iso.dataDir,
        JWT_SECRET: randomBytes(32).toString('base64url'),
        ENCRYPTION_KEYS: keys,
        ...iso.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}
