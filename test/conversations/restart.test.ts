import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import { createRedis } from '../../src/infra/redis.js';
import { registerOrg, testDatabase } from '../helpers/app.js';
import { fakeGraph } from '../helpers/fake-graph.js';
import { services } from '../helpers/services.js';
import { messageOf, send, settled, startThread } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

/** One server process: several of them share the database (and Redis), not memory. */
async function instance(db: Database, env: Record<string, string>) {
  const svc = services();
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-restart-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    PUBLIC_URL: 'https://bastion.test',
    WHATSAPP_RETRY_BASE_MS: '20',
    WHATSAPP_SEND_ATTEMPTS: '1000',
    RATE_LIMIT_AUTH_IP_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
    ...(svc.databaseUrl ? { DATABASE_URL: svc.databaseUrl } : {}),
    ...(svc.redisUrl ? { REDIS_URL: svc.redisUrl } : {}),
    ...env,
  });
  const redis = config.redisUrl ? createRedis(config.redisUrl) : null;
  await redis?.connect();
  const app = await buildApp({ config, db, redis });
  await app.ready();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    redis?.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  };
  cleanup.push(close);
  return { app, stop: close };
}

/** An address where nothing listens: the Graph API is down. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

describe('restart safety: the messages table is the queue’s truth', () => {
  it('a message queued while the Graph API was down is sent by the next instance', async () => {
    const db = await testDatabase();
    cleanup.push(() => db.close());
    const shared = {
      JWT_SECRET: randomBytes(32).toString('base64url'),
      ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}`,
    };
    const { app: first, stop } = await instance(db, {
      ...shared,
      WHATSAPP_GRAPH_URL: await deadUrl(),
    });
    const owner = await registerOrg(first);
    const thread = await startThread(first, owner);
    const res = await send(first, owner, thread.conversationId, { text: 'Survive a restart' });
    expect(res.statusCode).toBe(202);
    const id = res.json<{ id: string }>().id;
    // Wait until the first instance has tried and failed at least once, then stop it.
    let m = await messageOf(first, owner, thread.conversationId, id);
    while (m.error === null) {
      await new Promise((r) => setTimeout(r, 10));
      m = await messageOf(first, owner, thread.conversationId, id);
    }
    await stop();

    const graph = await fakeGraph();
    cleanup.push(() => graph.close());
    const { app: second } = await instance(db, { ...shared, WHATSAPP_GRAPH_URL: graph.url });
    const [request] = await graph.received(1);
    expect(request!.headers.authorization).toBe(`Bearer ${thread.channel.accessToken}`);
    expect(request!.body).toMatchObject({ text: { body: 'Survive a restart' } });
    const sent = await settled(second, owner, thread.conversationId, id, ['sent']);
    expect(sent.waMessageId).toMatch(/^wamid\./);
    expect(sent.error).toBeNull();
  });
});
