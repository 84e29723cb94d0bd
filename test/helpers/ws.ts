import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

export interface OpenSocket {
  socket: WebSocket;
  /** The next received event (JSON) that matches, waiting up to timeoutMs; earlier non-matching ones stay queued. */
  nextMessage<T = { type: string; data: Record<string, unknown> }>(
    predicate?: (message: T) => boolean,
    timeoutMs?: number,
  ): Promise<T>;
  /** Resolves when the server (or we) closed the socket. */
  closed: Promise<Closed>;
  close(): Promise<Closed>;
}

/** Starts the app on an ephemeral loopback port (idempotent) and returns its ws:// URL. */
export async function wsUrl(app: FastifyInstance, path = '/api/v1/realtime'): Promise<string> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return `ws://127.0.0.1:${port}${path}`;
}

/** The handshake's outcome: 101 when upgraded, else the HTTP status the server refused with. */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('error', () => {}); // terminating mid-handshake reports an error we caused
    ws.once('upgrade', (res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err)); // settles nothing if already resolved
  });
}

/** Opens a socket (rejects with "HTTP <status>" when refused) and queues what it receives. */
export function openSocket(url: string, headers: Record<string, string> = {}): Promise<OpenSocket> {
  const socket = new WebSocket(url, { headers });
  socket.on('error', () => {}); // reported through the open promise or the close code
  const queue: unknown[] = [];
  const waiters = new Set<() => unknown>();
  const closed = new Promise<Closed>((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  socket.on('message', (data) => {
    // The default binaryType ('nodebuffer') delivers whole messages as one Buffer.
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    queue.push(JSON.parse(bytes.toString('utf8')));
    for (const wake of [...waiters]) wake();
  });

  function nextMessage<T>(predicate: (m: T) => boolean = () => true, timeoutMs = 5_000) {
    return new Promise<T>((resolve, reject) => {
      const look = () => {
        const i = queue.findIndex((m) => predicate(m as T));
        if (i === -1) return false;
        const [found] = queue.splice(i, 1);
        waiters.delete(look);
        clearTimeout(timer);
        resolve(found as T);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(look);
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!look()) waiters.add(look);
    });
  }

  return new Promise((resolve, reject) => {
    socket.once('open', () =>
      resolve({
        socket,
        nextMessage,
        closed,
        close() {
          if (socket.readyState !== WebSocket.CLOSED) socket.close();
          return closed;
        },
      }),
    );
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      socket.terminate();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    socket.once('error', reject);
  });
}
