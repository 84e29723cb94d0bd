/**
 * `npm run bench`: starts the built server and a bare baseline in child processes, seeds
 * two organizations through the real API, and measures each scenario with autocannon in
 * this process. Prints a table and writes bench/results/latest.json. Exits non-zero when a
 * scenario saw errors or non-2xx replies (a broken bench must be visible); it never judges
 * the figures themselves.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  ROOT,
  call,
  freePort,
  pick,
  registerOrg,
  seedCustomers,
  startNode,
  stop,
  waitHealthy,
  type Child,
  type Org,
  type SeededCustomer,
} from './lib.js';

const CUSTOMERS_PER_ORG = 5000;
const SEED_CONCURRENCY = 32;
const CONNECTIONS = 50;
const WARMUP_SECONDS = 2;
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
if (!Number.isFinite(DURATION) || DURATION <= 0) throw new Error('BENCH_DURATION: seconds > 0');

interface Target {
  path: string;
  headers: Record<string, string>;
}

interface Scenario {
  name: string;
  base: string;
  targets: Target[];
}

interface Measured {
  name: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

async function cannon(s: Scenario, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: s.base,
    connections: CONNECTIONS,
    duration: seconds,
    // One request template; each send picks a random target (id and its org's token).
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const t = pick(s.targets);
          return { ...req, path: t.path, headers: t.headers };
        },
      },
    ],
  });
}

async function measure(s: Scenario): Promise<Measured> {
  process.stderr.write(`  ${s.name}: warm-up ${WARMUP_SECONDS} s, run ${DURATION} s\n`);
  await cannon(s, WARMUP_SECONDS); // JIT, pools and caches settle; not reported
  const r = await cannon(s, DURATION);
  return {
    name: s.name,
    reqPerSec: r.requests.mean,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/** A sample of ids must answer 200 before we trust the numbers; a wrong token must be 404. */
async function verify(base: string, sample: Target[], label: string, crossOrg?: Target) {
  for (const t of sample) {
    const reply = await call(base + t.path, { headers: t.headers });
    if (reply.status !== 200) {
      throw new Error(`${label} ${t.path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
  }
  if (crossOrg) {
    const reply = await call(base + crossOrg.path, { headers: crossOrg.headers });
    if (reply.status !== 404) throw new Error(`${label}: another org's id gave ${reply.status}`);
  }
}

function table(rows: Measured[]): string {
  const head = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'];
  const body = rows.map((r) => [
    r.name,
    r.reqPerSec.toFixed(0),
    r.p50Ms.toFixed(1),
    r.p99Ms.toFixed(1),
    String(r.non2xx),
    String(r.errors),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const database = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
  const redis = process.env.REDIS_URL ? 'redis' : 'memory';
  const work = mkdtempSync(join(tmpdir(), 'bastion-bench-'));
  const children: Child[] = [];
  try {
    const port = await freePort();
    const server = startNode('server', ['dist/main.js'], {
      ...pass('PATH', 'HOME', 'TMPDIR', 'DATABASE_URL', 'DATABASE_MIGRATION_URL', 'REDIS_URL'),
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      COOKIE_SECURE: 'false',
      JWT_SECRET: randomBytes(48).toString('base64url'),
      ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      DATA_DIR: join(work, 'data'),
      // Once rate limits are enforced, the default (1000 per 15 min per user) would turn the
      // seeding and the run into 429s: the bench measures the limiter's cost, not its refusals.
      RATE_LIMIT_MAX: '1000000000',
    });
    children.push(server);
    const base = `http://127.0.0.1:${port}`;
    process.stderr.write(`bench: ${database} + ${redis}; starting server (pid ${server.pid})\n`);
    await waitHealthy(server, `${base}/health`);

    const seedStart = Date.now();
    const orgs: Org[] = [await registerOrg(base, 'a'), await registerOrg(base, 'b')];
    const customers: SeededCustomer[] = [];
    for (const org of orgs) {
      customers.push(...(await seedCustomers(base, org, CUSTOMERS_PER_ORG, SEED_CONCURRENCY)));
    }
    const seedSeconds = (Date.now() - seedStart) / 1000;
    process.stderr.write(`bench: seeded ${customers.length} customers in ${seedSeconds} s\n`);

    const tokens = new Map(orgs.map((o) => [o.id, o.token]));
    const secured: Target[] = customers.map((c) => ({
      path: `/api/v1/customers/${c.id}`,
      headers: { authorization: `Bearer ${tokens.get(c.organizationId) ?? ''}` },
    }));
    const [a, b] = orgs;
    const firstB = customers.find((c) => c.organizationId === b?.id);
    await verify(
      base,
      Array.from({ length: 20 }, () => pick(secured)),
      'server',
      firstB &&
        a && {
          path: `/api/v1/customers/${firstB.id}`,
          headers: { authorization: `Bearer ${a.token}` },
        },
    );

    const rowsFile = join(work, 'rows.json');
    writeFileSync(rowsFile, JSON.stringify(customers));
    // On PostgreSQL two baselines: node-postgres (`pg`, the "bare node:http + pg")
    // and postgres.js (the server's own driver, which pipelines: a much faster baseline).
    const drivers =
      database === 'postgresql' ? (['pg', 'postgres.js'] as const) : (['pglite'] as const);
    const baselines: { name: string; base: string; targets: Target[] }[] = [];
    const bare: Target[] = customers.map((c) => ({ path: `/customers/${c.id}`, headers: {} }));
    for (const driver of drivers) {
      const basePort = await freePort();
      const baseline = startNode(
        `baseline ${driver}`,
        ['--import', 'tsx', 'bench/baseline-server.ts'],
        {
          ...pass('PATH', 'HOME', 'TMPDIR'),
          PORT: String(basePort),
          BASELINE_DRIVER: driver,
          // The server's login role (DATABASE_URL) is subject to RLS and, with no organization
          // set, sees no rows at all; a "no security" baseline needs a role that bypasses RLS,
          // by default the migration (owner) role. Override with BASELINE_DATABASE_URL.
          ...(database === 'postgresql'
            ? {
                BASELINE_DATABASE_URL: firstEnv(
                  'BASELINE_DATABASE_URL',
                  'DATABASE_MIGRATION_URL',
                  'DATABASE_URL',
                ),
              }
            : { BASELINE_ROWS_FILE: rowsFile }),
        },
      );
      children.push(baseline);
      const baseUrl = `http://127.0.0.1:${basePort}`;
      await waitHealthy(baseline, `${baseUrl}/health`);
      await verify(
        baseUrl,
        Array.from({ length: 20 }, () => pick(bare)),
        `baseline ${driver}`,
      );
      baselines.push({
        name: `baseline (${driver}) GET /customers/:id`,
        base: baseUrl,
        targets: bare,
      });
    }

    const results: Measured[] = [];
    for (const s of [
      { name: 'GET /health', base, targets: [{ path: '/health', headers: {} }] },
      { name: 'GET /api/v1/customers/:id', base, targets: secured },
      ...baselines,
    ]) {
      results.push(await measure(s));
    }

    const [, securedRun, ...baselineRuns] = results;
    const ratios = Object.fromEntries(
      baselineRuns.map((b) => [b.name, securedRun ? securedRun.reqPerSec / b.reqPerSec : NaN]),
    );
    console.log(
      `\ndatabase: ${database}, rate-limit/pub-sub: ${redis}, ` +
        `${CONNECTIONS} connections, ${DURATION} s per scenario, ${customers.length} customers\n`,
    );
    console.log(table(results));
    for (const [name, ratio] of Object.entries(ratios)) {
      console.log(`secured / ${name}, req/s: ${ratio.toFixed(2)}`);
    }

    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    const out = join(ROOT, 'bench/results/latest.json');
    writeFileSync(
      out,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          node: process.version,
          database,
          redis,
          connections: CONNECTIONS,
          durationSeconds: DURATION,
          customers: customers.length,
          seedSeconds,
          scenarios: results,
          ratios,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`written ${out}`);

    const broken = results.filter((r) => r.errors > 0 || r.non2xx > 0);
    for (const r of broken)
      console.error(`bench: ${r.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
    return broken.length > 0 ? 1 : 0;
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The first of these variables that is set (callers know at least one is). */
function firstEnv(...names: string[]): string {
  return names.map((n) => process.env[n]).find((v) => v) ?? '';
}

/** Only the named variables reach the children: the bench's own environment stays out. */
function pass(...names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = process.env[n];
    if (v) out[n] = v;
  }
  return out;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error('bench failed:', err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
