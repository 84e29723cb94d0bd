import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/app.js';
import { hubSignature, inboundText, wamid } from '../helpers/whatsapp.js';
import { freePort } from '../helpers/ports.js';
import { services } from '../helpers/services.js';

/**
 * Issue 5: an acknowledged webhook delivery is never lost. Under a burst of signed
 * deliveries the real server process is killed with SIGKILL (no shutdown hook runs);
 * after a restart every delivery that got a 200 is in the database and becomes a message.
 * PostgreSQL only: durability is what the server database promises.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const BURST = 3000;
const CONCURRENCY = 50;
const KILL_AFTER_ACKS = 400;

describe.runIf(!!process.env.DATABASE_URL)('webhook durability across a SIGKILL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-crash-'));
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    PUBLIC_URL: 'https://bastion.test',
    RATE_LIMIT_AUTH_IP_MAX: '100000',
    RATE_LIMIT_MAX: '1000000',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  } as Record<string, string>;
  let child: ChildProcess | undefined;
  let owner: postgres.Sql;
  let database: { env: Record<string, string>; drop(): Promise<void> };

  // A database of its own: the server's start checks the key ids of every stored value.
  beforeAll(async () => {
    database = await services().isolatedDatabase();
    Object.assign(env, database.env);
    owner = postgres(database.env.DATABASE_MIGRATION_URL!, { max: 2, onnotice: () => {} });
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await owner.end();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(port: number): Promise<ChildProcess> {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env: { ...env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited: ${stderr}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return proc;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('stores every delivery that got a 200, and processes it after the restart', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = await start(port);
    const json = { 'content-type': 'application/json', 'x-auth-mode': 'token' };
    const reg = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        organizationName: `Crash ${randomUUID().slice(0, 8)}`,
        name: 'Owner',
        email: `crash-${randomUUID()}@example.test`,
        password: PASSWORD,
      }),
    });
    const { accessToken, organization } = (await reg.json()) as {
      accessToken: string;
      organization: { id: string };
    };
    const appSecret = randomBytes(16).toString('hex');
    const phoneNumberId = `77${Date.now()}`;
    const ch = await fetch(`${base}/api/v1/channels`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({
        type: 'whatsapp',
        name: 'Crash line',
        phoneNumberId,
        accessToken: 'EAAG-test',
        appSecret,
        verifyToken: 'verify',
      }),
    });
    const { id: channelId } = (await ch.json()) as { id: string };

    const acked: string[] = [];
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < BURST && !killed) {
        const id = wamid();
        const from = `1630${String(next++).padStart(7, '0')}`;
        const body = JSON.stringify(inboundText(phoneNumberId, { from, id }));
        try {
          const res = await fetch(`${base}/webhooks/whatsapp/${channelId}`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-hub-signature-256': hubSignature(appSecret, body),
            },
            body,
          });
          if (res.status === 200) acked.push(id);
          await res.arrayBuffer();
        } catch {
          // the connection died with the server: this delivery was not acknowledged
        }
        if (acked.length >= KILL_AFTER_ACKS && !killed) {
          killed = true;
          child!.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(killed).toBe(true);
    const dead = child;
    await new Promise((r) => {
      if (dead.exitCode !== null || dead.signalCode !== null) r(null);
      else dead.once('exit', r);
    });

    const storedIds = async () => {
      const rows = await owner<{ body: string | null }[]>`
        select convert_from(body, 'UTF8') as body from webhook_deliveries
        where channel_id = ${channelId} and body is not null`;
      const fromBodies = rows.map((r) => /"id":"(wamid\.[^"]+)"/.exec(r.body!)?.[1]);
      const msgs = await owner<{ id: string }[]>`
        select wa_message_id as id from messages where channel_id = ${channelId}`;
      return new Set([...fromBodies, ...msgs.map((m) => m.id)]);
    };
    // Before the restart: what is on disk is all there is.
    const afterKill = await storedIds();
    const lost = acked.filter((id) => !afterKill.has(id));
    expect(lost).toEqual([]);
    const [counted] = await owner<{ n: number }[]>`
      select count(*)::int as n from webhook_deliveries where channel_id = ${channelId} and outcome <> 'invalid_signature'`;
    const deliveries = counted!.n;
    // Stored >= acknowledged; the difference is deliveries committed whose 200 the kill cut off.
    expect(deliveries).toBeGreaterThanOrEqual(acked.length);
    expect(deliveries - acked.length).toBeLessThanOrEqual(CONCURRENCY);

    // After the restart, the sweep processes what the dead process left pending.
    child = await start(port);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [left] = await owner<{ pending: number }[]>`
        select count(*)::int as pending from webhook_deliveries
        where organization_id = ${organization.id} and outcome = 'pending'`;
      const pending = left!.pending;
      if (pending === 0) break;
      if (Date.now() > deadline) throw new Error(`${pending} deliveries still pending`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const msgs = await owner<{ id: string }[]>`
      select wa_message_id as id from messages where channel_id = ${channelId}`;
    const stored = new Set(msgs.map((m) => m.id));
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
    expect(stored.size).toBe(deliveries);
  }, 180_000);
});
