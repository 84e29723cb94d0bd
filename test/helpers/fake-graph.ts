import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** What the fake answers next: Meta's documented shapes, or a dropped connection. */
export type GraphReply =
  | 'ok'
  | 'rate_limited'
  | 'throughput_reached'
  | 'server_error'
  | 'unavailable'
  | 'not_allowed'
  | 'invalid_token'
  | 'drop';

const trace = () => randomBytes(8).toString('base64url');
const error = (message: string, code: number, extra: Record<string, unknown> = {}) => ({
  error: { message, type: 'OAuthException', code, ...extra, fbtrace_id: trace() },
});

const replies: Record<Exclude<GraphReply, 'ok' | 'drop'>, [number, unknown]> = {
  rate_limited: [429, error('(#130429) Rate limit hit', 130429)],
  // Meta also throttles with HTTP 400 and a throttling code.
  throughput_reached: [
    400,
    error('(#130429) Cloud API message throughput has been reached.', 130429),
  ],
  server_error: [500, error('An unknown error has occurred.', 1, { is_transient: true })],
  unavailable: [503, error('Service temporarily unavailable', 2, { is_transient: true })],
  not_allowed: [
    400,
    error('(#131030) Recipient phone number not in allowed list', 131030, {
      error_subcode: 2655007,
    }),
  ],
  invalid_token: [
    401,
    error('Error validating access token: Session has expired.', 190, { error_subcode: 463 }),
  ],
};

/**
 * A stand-in for the WhatsApp Cloud API's send endpoint on 127.0.0.1: it records every
 * request and answers from a script (then `ok` once the script runs out).
 */
export async function fakeGraph() {
  const requests: GraphRequest[] = [];
  const script: GraphReply[] = [];
  const events = new EventEmitter();
  let fallback: GraphReply = 'ok';
  let before: ((req: GraphRequest) => Promise<void>) | null = null;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void answer());
    const answer = async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // kept as text: a test asserting on the body then fails visibly
      }
      const recorded = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
      };
      requests.push(recorded);
      const reply = script.shift() ?? fallback;
      await before?.(recorded);
      events.emit('request', recorded);
      if (reply === 'drop') return void req.socket.destroy();
      const [status, payload] =
        reply === 'ok'
          ? [
              200,
              {
                messaging_product: 'whatsapp',
                contacts: [
                  { input: (body as { to?: string }).to, wa_id: (body as { to?: string }).to },
                ],
                messages: [{ id: `wamid.${randomBytes(18).toString('base64url')}` }],
              },
            ]
          : replies[reply];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** The next replies, in order. */
    script(...next: GraphReply[]) {
      script.push(...next);
    },
    /** The reply once the script is spent. */
    always(reply: GraphReply) {
      fallback = reply;
    },
    /** Runs before each reply: to make something happen while Meta is "processing". */
    beforeReply(hook: (req: GraphRequest) => Promise<void>) {
      before = hook;
    },
    /** Resolves once `n` requests have arrived (the test's timeout bounds the wait). */
    async received(n: number): Promise<GraphRequest[]> {
      while (requests.length < n) await new Promise((r) => events.once('request', r));
      return requests.slice(0, n);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeGraph = Awaited<ReturnType<typeof fakeGraph>>;
