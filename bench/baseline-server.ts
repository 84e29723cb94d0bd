/**
 * The baseline: the same single-row SELECT as `GET /api/v1/customers/:id`, behind a bare
 * node:http handler with no security at all (no auth, no RLS transaction, no headers,
 * no validation). The ratio secured/baseline is what Bastion's protections cost.
 *
 * Env: PORT; BASELINE_DATABASE_URL (PostgreSQL mode, BASELINE_DRIVER pg or postgres.js)
 * or BASELINE_ROWS_FILE (PGlite mode).
 */
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import postgres from 'postgres';

const SELECT =
  'select id, organization_id, name, phone, email, tags, notes, created_at, updated_at from customers where id = $1';

type FindCustomer = (id: string) => Promise<Record<string, unknown> | undefined>;

/** node-postgres, pool of 10, a named (prepared) statement. */
async function openPg(url: string): Promise<FindCustomer> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query('select 1');
  return async (id) =>
    (await pool.query<Record<string, unknown>>({ name: 'customer', text: SELECT, values: [id] }))
      .rows[0];
}

async function openPostgres(url: string): Promise<FindCustomer> {
  // Pool of 10, as the server's. postgres.js prepares (names) the statement, as the server does.
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  await sql`select 1`; // fail before listening, not on the first request
  return async (id) =>
    (await sql.unsafe<Record<string, unknown>[]>(SELECT, [id], { prepare: true }))[0];
}

/**
 * PGlite allows one process per data dir, and the server holds its own while it runs, so
 * the baseline cannot read the server's rows. Instead it builds an in-memory PGlite with a
 * `customers` table of the same columns and loads the very rows the bench seeded through
 * the API (ids, organizations, names, phones), before it starts listening. The data and the
 * query are the same; the storage is memory rather than the server's data dir, which is
 * a small advantage to the baseline (10,000 rows sit in the buffer cache either way).
 */
async function openPglite(rowsFile: string): Promise<FindCustomer> {
  const db = await PGlite.create('memory://');
  await db.exec(`
    create table customers (
      id uuid primary key,
      organization_id uuid not null,
      name text not null,
      phone text not null,
      email text,
      tags text[] not null default '{}',
      notes text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (organization_id, phone)
    )`);
  await db.query(
    `insert into customers (id, organization_id, name, phone)
     select id, "organizationId", name, phone
       from jsonb_to_recordset($1::jsonb) as r(id uuid, "organizationId" uuid, name text, phone text)`,
    [readFileSync(rowsFile, 'utf8')],
  );
  return async (id) => (await db.query<Record<string, unknown>>(SELECT, [id])).rows[0];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const url = process.env.BASELINE_DATABASE_URL;
const rowsFile = process.env.BASELINE_ROWS_FILE;
if (!url && !rowsFile) throw new Error('set BASELINE_DATABASE_URL or BASELINE_ROWS_FILE');
const find = url
  ? process.env.BASELINE_DRIVER === 'pg'
    ? await openPg(url)
    : await openPostgres(url)
  : await openPglite(rowsFile ?? '');

const PATH = /^\/customers\/([^/?]+)$/;
createServer((req, res) => {
  if (req.url === '/health') return send(res, 200, { status: 'ok' });
  const id = PATH.exec(req.url ?? '')?.[1];
  if (req.method !== 'GET' || id === undefined) return send(res, 404, { error: 'not found' });
  find(id).then(
    (row) => (row ? send(res, 200, row) : send(res, 404, { error: 'not found' })),
    (err: unknown) => {
      console.error(err);
      send(res, 500, { error: 'internal' });
    },
  );
}).listen(Number(process.env.PORT ?? 0), '127.0.0.1');
