/**
 * The webhook baseline: a bare node:http handler that checks the same HMAC-SHA256 signature
 * and stores each delivery with one autocommitted INSERT (node-postgres, pool of 20) before
 * answering 200. No tenancy, no log row, no processing: the floor of "durable before the 200".
 *
 * Env: PORT, BASELINE_DATABASE_URL (an owner role: it creates its own scratch table),
 * BASELINE_SECRET.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import pg from 'pg';

const url = process.env.BASELINE_DATABASE_URL;
const secret = process.env.BASELINE_SECRET;
if (!url || !secret) throw new Error('set BASELINE_DATABASE_URL and BASELINE_SECRET');

const pool = new pg.Pool({ connectionString: url, max: 20 });
// A logged table, as the server's: durability means the WAL is flushed at each commit.
await pool.query(
  'create table if not exists bench_webhook_baseline (id bigserial primary key, body bytea not null)',
);

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/health') return res.writeHead(200).end('ok');
    const body = Buffer.concat(chunks);
    const given = /^sha256=([0-9a-f]{64})$/.exec(String(req.headers['x-hub-signature-256']));
    const mac = createHmac('sha256', secret).update(body).digest();
    if (!given || !timingSafeEqual(Buffer.from(given[1]!, 'hex'), mac)) {
      return res.writeHead(403).end();
    }
    pool
      .query({
        name: 'store',
        text: 'insert into bench_webhook_baseline (body) values ($1)',
        values: [body],
      })
      .then(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
      .catch(() => res.writeHead(500).end());
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
