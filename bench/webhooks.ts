/**
 * Webhook ingest: signed inbound WhatsApp text messages, each with a unique message id,
 * posted by autocannon as Meta would. A 200 means the delivery is committed (durable) in
 * PostgreSQL; turning it into a customer, conversation and message happens after, so the
 * backlog's drain is measured too.
 */
import autocannon from 'autocannon';
import { createHmac, randomBytes } from 'node:crypto';
import { call, freePort, pass, startNode, stop, str, waitHealthy, type Org } from './lib.js';
import { CONNECTIONS, DURATION, WARMUP_SECONDS, summarize, type Measured } from './measure.js';

/** Senders cycle through this many customers, as a busy number's inbox would. */
const SENDERS = 2000;

export interface IngestSummary {
  acknowledged: number;
  /** Server's acknowledged deliveries/s over the bare baseline's (PostgreSQL only). */
  ratioToBaseline: number | null;
  /** Seconds from the end of the run until no delivery was pending. */
  drainSeconds: number | null;
  /** Deliveries processed into messages per second, from the warm-up to the drain's end. */
  processedPerSec: number | null;
}

interface Signed {
  body: string;
  signature: string;
}

function signedBodies(phoneNumberId: string, secret: string, count: number) {
  const out: Signed[] = [];
  const ts = String(Math.floor(Date.now() / 1000));
  for (let i = 0; i < count; i++) {
    const from = `1650${String(i % SENDERS).padStart(7, '0')}`;
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
                contacts: [{ profile: { name: `Sender ${i % SENDERS}` }, wa_id: from }],
                messages: [
                  {
                    from,
                    id: `wamid.${randomBytes(18).toString('base64url')}`,
                    timestamp: ts,
                    type: 'text',
                    text: { body: `Bench message ${i}` },
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    out.push({ body, signature });
  }
  return out;
}

function post(url: string, bodies: Signed[], seconds: number) {
  let next = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          // Unique ids while they last; past the end a repeat is a (cheaper) duplicate.
          const b = bodies[next++ % bodies.length]!;
          return {
            ...req,
            body: b.body,
            headers: { 'content-type': 'application/json', 'x-hub-signature-256': b.signature },
          };
        },
      },
    ],
  });
}

async function pendingCount(base: string, org: Org, channelId: string): Promise<number> {
  const reply = await call(
    `${base}/api/v1/webhook-logs?channelId=${channelId}&outcome=pending&limit=100`,
    { token: org.token },
  );
  if (reply.status !== 200) throw new Error(`webhook-logs: ${reply.status}`);
  return (reply.body as { data: unknown[] }).data.length;
}

/** The bare node:http + pg baseline (bench/webhook-baseline-server.ts), PostgreSQL only. */
async function measureBaseline(bodies: Signed[], secret: string): Promise<Measured | null> {
  const url = process.env.DATABASE_MIGRATION_URL ?? process.env.DATABASE_URL;
  if (!process.env.DATABASE_URL || !url) return null;
  const port = await freePort();
  const child = startNode(
    'webhook baseline',
    ['--import', 'tsx', 'bench/webhook-baseline-server.ts'],
    {
      ...pass('PATH', 'HOME', 'TMPDIR'),
      PORT: String(port),
      BASELINE_DATABASE_URL: url,
      BASELINE_SECRET: secret,
    },
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(child, `${base}/health`);
    process.stderr.write(`  webhook baseline: warm-up ${WARMUP_SECONDS} s, run ${DURATION} s\n`);
    await post(`${base}/webhook`, bodies, WARMUP_SECONDS);
    return summarize(
      'baseline (node:http + pg) POST webhook',
      await post(`${base}/webhook`, bodies, DURATION),
    );
  } finally {
    await stop(child);
  }
}

export async function webhookIngest(
  base: string,
  org: Org,
): Promise<{ rows: Measured[]; summary: IngestSummary }> {
  const phoneNumberId = String(100_000_000_000 + Math.floor(Math.random() * 1e9));
  const appSecret = randomBytes(16).toString('hex');
  const channel = await call(`${base}/api/v1/channels`, {
    method: 'POST',
    token: org.token,
    json: {
      type: 'whatsapp',
      name: 'Bench line',
      phoneNumberId,
      accessToken: 'EAAG-bench',
      appSecret,
      verifyToken: 'bench',
    },
  });
  const channelId = str(channel, 'id');
  const url = `${base}/webhooks/whatsapp/${channelId}`;
  // Enough unique deliveries for 6,000/s over the warm-up and the run.
  const bodies = signedBodies(phoneNumberId, appSecret, 6000 * (WARMUP_SECONDS + DURATION));
  process.stderr.write(`  webhook ingest: warm-up ${WARMUP_SECONDS} s, run ${DURATION} s\n`);
  const started = Date.now();
  const warm = await post(url, bodies, WARMUP_SECONDS);
  const result = await post(url, bodies, DURATION);
  const row = summarize('POST /webhooks/whatsapp/:id (signed, durable)', result);
  const runEnd = Date.now();
  process.stderr.write(
    `  acknowledged ${row.reqPerSec.toFixed(0)}/s (p99 ${row.p99Ms} ms); waiting for the backlog\n`,
  );
  let drainSeconds: number | null = null;
  for (let i = 0; i < 600; i++) {
    if ((await pendingCount(base, org, channelId)) === 0) {
      drainSeconds = (Date.now() - runEnd) / 1000;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  // Everything posted (warm-up included) was processed between `started` and the drain.
  const total = warm.requests.total + result.requests.total;
  const processedPerSec = drainSeconds === null ? null : total / ((Date.now() - started) / 1000);
  const baseline = await measureBaseline(bodies, appSecret);
  return {
    rows: baseline ? [row, baseline] : [row],
    summary: {
      acknowledged: result['2xx'],
      ratioToBaseline: baseline ? row.reqPerSec / baseline.reqPerSec : null,
      drainSeconds,
      processedPerSec,
    },
  };
}
