import type { FastifyInstance } from 'fastify';
import { connect } from 'node:net';

/** A response read off a raw socket: what a client that speaks HTTP by hand would see. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Listens on a loopback port (after ready) and returns it. */
export async function listenLocal(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return address.port;
}

function parse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head: ${JSON.stringify(raw)}`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: raw.slice(end + 4) };
}

/**
 * Writes `bytes` as they are (no client library to normalise them) and reads until the
 * server closes the connection: a well-formed request should say `Connection: close`.
 */
export function rawRequest(port: number, bytes: string | Buffer): Promise<RawResponse> {
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => (raw += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      try {
        done(parse(raw));
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
