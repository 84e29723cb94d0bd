import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/client.js';
import type { EdgeLimits } from '../../src/security/edge-limits.js';
import { testDatabase } from '../helpers/app.js';

/**
 * CONTRACT section 5 and issue 4, "Abuse": slow or stalled clients are cut off by header
 * and request timeouts, connections are capped, and an overloaded server sheds requests
 * with 503 + Retry-After while /health keeps answering. Real sockets, short timeouts.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function edgeApp(limits: Partial<EdgeLimits>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-edge-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}`,
  });
  const db: Database = await testDatabase();
  const app = await buildApp({ config, db, edgeLimits: limits });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return {
    app,
    port: address.port,
    async close() {
      await app.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Outcome {
  closedAfterMs: number;
  received: string;
}

/** Opens a socket, runs `drip` on it, and reports when and how the server ended it. */
function stalledClient(port: number, drip: (socket: Socket) => void, giveUpMs = 5_000) {
  return new Promise<Outcome>((done, fail) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const started = Date.now();
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`server kept the connection for ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      done({ closedAfterMs: Date.now() - started, received });
    });
    socket.on('connect', () => drip(socket));
  });
}

/** Writes one chunk every `everyMs` for as long as the socket is open. */
function trickle(socket: Socket, first: string, next: (i: number) => string, everyMs = 100) {
  socket.write(first);
  let i = 0;
  const tick = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(tick);
    socket.write(next(i++));
  }, everyMs);
  socket.on('close', () => clearInterval(tick));
}

describe('slow and stalled clients', () => {
  let e: Awaited<ReturnType<typeof edgeApp>>;
  beforeAll(async () => {
    e = await edgeApp({
      headersTimeoutMs: 600,
      requestTimeoutMs: 1_200,
      idleTimeoutMs: 2_000,
      keepAliveTimeoutMs: 500,
      timeoutCheckIntervalMs: 100,
      maxConnections: 4,
    });
  });
  afterAll(() => e.close());

  it('cuts off a slowloris client that never finishes its headers', async () => {
    const outcome = await stalledClient(e.port, (s) =>
      trickle(s, 'GET /health HTTP/1.1\r\nHost: bastion.test\r\n', (i) => `X-Pad-${i}: a\r\n`),
    );
    // Every byte reset no idle timer: only the headers deadline ends it.
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(500);
    expect(outcome.closedAfterMs).toBeLessThan(1_500);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('cuts off a client that sends its body a byte at a time', async () => {
    const headers =
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: bastion.test\r\n' +
      'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';
    const outcome = await stalledClient(e.port, (s) => trickle(s, headers, () => ' '));
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(outcome.closedAfterMs).toBeLessThan(2_500);
    expect(outcome.received).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('closes a connection that never sends anything', async () => {
    const outcome = await stalledClient(e.port, () => {});
    expect(outcome.closedAfterMs).toBeLessThan(2_500);
    expect(outcome.received).not.toMatch(/^HTTP\/1\.1 2/);
  });

  it('still serves a client that sends a whole request promptly', async () => {
    const res = await fetch(`http://127.0.0.1:${e.port}/health`);
    expect(res.status).toBe(200);
  });

  it('drops connections beyond the cap while the ones it holds stay open', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = connect(e.port, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      await sleep(50); // let the server accept all four
      const extra = await stalledClient(e.port, () => {}, 1_000);
      expect(extra.closedAfterMs).toBeLessThan(300);
      expect(extra.received).toBe('');
      expect(held.every((s) => !s.destroyed)).toBe(true);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});

describe('load shedding', () => {
  let app: FastifyInstance;
  let e: Awaited<ReturnType<typeof edgeApp>>;
  beforeAll(async () => {
    e = await edgeApp({ maxEventLoopDelayMs: 30, sampleIntervalMs: 50, retryAfterSeconds: 7 });
    app = e.app;
  });
  afterAll(() => e.close());

  const busy = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // nothing else runs: a CPU-bound overload
    }
  };
  const protectedRoute = () =>
    app.inject({ url: '/api/v1/customers', headers: { 'x-request-id': 'shed-1' } });

  it('sheds nothing for one long pause of the event loop (not yet an overload)', async () => {
    busy(300);
    // under-pressure notices at its next sample (background timers may run first).
    for (let i = 0; i < 20 && !app.isUnderPressure(); i++) await sleep(5);
    expect(app.isUnderPressure()).toBe(true);
    expect((await protectedRoute()).statusCode).toBe(401);
  });

  it('answers 503 unavailable with Retry-After while the lag lasts, but never on /health', async () => {
    let shed = await protectedRoute();
    for (let i = 0; i < 40 && shed.statusCode !== 503; i++) {
      busy(100);
      await sleep(1);
      shed = await protectedRoute();
    }
    const [health, ready] = await Promise.all([
      app.inject({ url: '/health' }),
      app.inject({ url: '/ready' }),
    ]);
    expect(shed.statusCode, shed.body).toBe(503);
    expect(shed.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(shed.json()).toMatchObject({ code: 'unavailable', requestId: 'shed-1' });
    expect(shed.headers['retry-after']).toBe('7');
    expect(health.statusCode).toBe(200);
    expect(ready.statusCode).toBe(200);
  });

  it('serves again by itself once the lag is gone', async () => {
    const deadline = Date.now() + 3_000;
    let status = 503;
    while (status === 503 && Date.now() < deadline) {
      await sleep(60);
      status = (await protectedRoute()).statusCode;
    }
    expect(status).toBe(401);
  });
});
