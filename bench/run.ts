/**
 * `npm run bench`: starts the built server and a bare baseline in child processes, seeds
 * two organizations through the real API, and measures each scenario with autocannon in
 * this process. Prints a table and writes bench/results/latest.json. Exits non-zero when a
 * scenario saw errors or non-2xx replies (a broken bench must be visible); it never judges
 * the figures themselves.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT,
  call,
  firstEnv,
  freePort,
  pass,
  pick,
  registerOrg,
  seedCustomers,
  startNode,
  startServer,
  stop,
  waitHealthy,
  type Child,
  type Org,
  type SeededCustomer,
} from './lib.js';
import {
  benchAddress,
  loginFlood,
  loginLimits,
  type FloodSummary,
  type LimitsSummary,
  type ReaderFigures,
} from './login.js';
import {
  CONNECTIONS,
  DURATION,
  measureReads,
  table,
  type Measured,
  type Target,
} from './measure.js';
import { CALLS, redisRoundTrip, type RoundTrip } from './redis.js';
import { webhookIngest, type IngestSummary } from './webhooks.js';

const CUSTOMERS_PER_ORG = 5000;
const SEED_CONCURRENCY = 32;

/** Scenario groups, selectable with BENCH_ONLY (comma-separated); all by default. */
const GROUPS = ['health', 'customers', 'baseline', 'flood', 'edge', 'redis', 'webhooks'] as const;
type Group = (typeof GROUPS)[number];
const isGroup = (g: string): g is Group => (GROUPS as readonly string[]).includes(g);

function selected(): Set<Group> {
  const raw = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  if (raw.length === 0) return new Set(GROUPS);
  const unknown = raw.filter((g) => !isGroup(g));
  if (unknown.length > 0) {
    throw new Error(`BENCH_ONLY: unknown ${unknown.join(', ')} (use ${GROUPS.join(', ')})`);
  }
  return new Set(raw.filter(isGroup));
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

async function main(): Promise<number> {
  const only = selected();
  const database = process.env.DATABASE_URL ? 'postgresql' : 'pglite';
  const redis = process.env.REDIS_URL ? 'redis' : 'memory';
  const work = mkdtempSync(join(tmpdir(), 'bastion-bench-'));
  const children: Child[] = [];
  try {
    const serverEnv: Record<string, string> = {
      // Once rate limits are enforced, the default (1000 per 15 min per user) would turn the
      // seeding and the run into 429s: the bench measures the limiter's cost, not its refusals.
      RATE_LIMIT_MAX: '1000000000',
      // The login flood measures argon2 under load, not the limiter's cheap 429s (the per-address
      // limit and the per-email lockout would answer almost at once): both lifted here, only
      // /auth/* uses them. The limits themselves are measured on a second server (defaults).
      RATE_LIMIT_AUTH_IP_MAX: '1000000000',
      RATE_LIMIT_LOGIN_FAILURES: '1000000000',
      // On PostgreSQL the edge-off server shares the database, so it needs the same secrets to
      // accept the same tokens and read the same rows (PGlite: its own data dir and seeding).
      ...(only.has('edge') && database === 'postgresql'
        ? {
            JWT_SECRET: randomBytes(48).toString('base64url'),
            ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
          }
        : {}),
    };
    const { child: server, base } = await startServer('server', work, serverEnv);
    children.push(server);
    process.stderr.write(
      `bench: ${database} + ${redis}; only ${[...only].join(', ')}; ` +
        `starting server (pid ${server.pid})\n`,
    );
    await waitHealthy(server, `${base}/health`);

    const needRows =
      only.has('customers') || only.has('baseline') || only.has('flood') || only.has('edge');
    const seedStart = Date.now();
    const orgs: Org[] = needRows
      ? [await registerOrg(base, 'a'), await registerOrg(base, 'b')]
      : [];
    const customers: SeededCustomer[] = [];
    for (const org of orgs) {
      customers.push(...(await seedCustomers(base, org, CUSTOMERS_PER_ORG, SEED_CONCURRENCY)));
    }
    const seedSeconds = (Date.now() - seedStart) / 1000;
    if (needRows) {
      process.stderr.write(`bench: seeded ${customers.length} customers in ${seedSeconds} s\n`);
    }

    const tokens = new Map(orgs.map((o) => [o.id, o.token]));
    const secured: Target[] = customers.map((c) => ({
      path: `/api/v1/customers/${c.id}`,
      headers: { authorization: `Bearer ${tokens.get(c.organizationId) ?? ''}` },
    }));
    const [a, b] = orgs;
    const firstB = customers.find((c) => c.organizationId === b?.id);
    if (needRows) {
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
    }

    const baselines: { name: string; base: string; targets: Target[] }[] = [];
    if (only.has('baseline')) {
      const rowsFile = join(work, 'rows.json');
      writeFileSync(rowsFile, JSON.stringify(customers));
      // On PostgreSQL two baselines: node-postgres (`pg`, the issue's "bare node:http + pg")
      // and postgres.js (the server's own driver, which pipelines: a much faster baseline).
      const drivers =
        database === 'postgresql' ? (['pg', 'postgres.js'] as const) : (['pglite'] as const);
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
    }

    const results: Measured[] = [];
    if (only.has('health')) {
      results.push(await measureReads('GET /health', base, [{ path: '/health', headers: {} }]));
    }
    const securedRun = only.has('customers')
      ? await measureReads('GET /api/v1/customers/:id', base, secured)
      : undefined;
    if (securedRun) results.push(securedRun);
    const baselineRuns: Measured[] = [];
    for (const s of baselines) baselineRuns.push(await measureReads(s.name, s.base, s.targets));
    results.push(...baselineRuns);
    const edge = only.has('edge')
      ? await measureEdge(work, serverEnv, base, secured, database === 'postgresql', children)
      : null;
    if (edge) results.push(edge.on, edge.off);
    let ingest: IngestSummary | null = null;
    if (only.has('webhooks')) {
      const measured = await webhookIngest(base, await registerOrg(base, 'webhooks'));
      results.push(...measured.rows);
      ingest = measured.summary;
    }
    let redisTrips: RoundTrip[] | null = null;
    if (only.has('redis') && process.env.REDIS_URL) {
      process.stderr.write(`  redis round trip: 2 x ${CALLS} calls of the limiter's script\n`);
      redisTrips = await redisRoundTrip(process.env.REDIS_URL);
    }
    const ratios = Object.fromEntries(
      baselineRuns.map((b) => [b.name, securedRun ? securedRun.reqPerSec / b.reqPerSec : NaN]),
    );

    let flood: FloodSummary | null = null;
    let limits: LimitsSummary | null = null;
    if (only.has('flood')) {
      const measured = await loginFlood(base, secured, orgs);
      results.push(...measured.rows);
      flood = measured.summary;
      // The limits need their defaults: a second server, started only now and stopped after.
      const second = await startServer('limits', work, { TRUST_PROXY: '127.0.0.1' });
      children.push(second.child);
      process.stderr.write(
        `bench: second server, default login limits (pid ${second.child.pid})\n`,
      );
      await waitHealthy(second.child, `${second.base}/health`);
      const owner = await registerOrg(second.base, 'c', { 'x-forwarded-for': benchAddress() });
      const limited = await loginLimits(second.base, owner);
      results.push(limited.row);
      limits = limited.summary;
      await stop(second.child);
    }

    console.log(
      `\ndatabase: ${database}, rate-limit/pub-sub: ${redis}, ` +
        `${DURATION} s per scenario, ${customers.length} customers, ` +
        `${availableParallelism()} CPUs\n`,
    );
    console.log(table(results));
    for (const [name, ratio] of Object.entries(ratios)) {
      console.log(`secured / ${name}, req/s: ${ratio.toFixed(2)}`);
    }
    if (edge) console.log(describeEdge(edge));
    if (only.has('redis')) console.log(describeRedis(redisTrips));
    if (ingest) console.log(describeIngest(ingest));
    if (flood) console.log(describeFlood(flood));
    if (limits) console.log(describeLimits(limits));

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
          only: [...only],
          cpus: availableParallelism(),
          uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null,
          connections: CONNECTIONS,
          durationSeconds: DURATION,
          customers: customers.length,
          seedSeconds,
          scenarios: results,
          ratios,
          edge: edge && {
            onReqPerSec: edge.on.reqPerSec,
            offReqPerSec: edge.off.reqPerSec,
            costFraction: edge.cost,
            costTarget: EDGE_COST_TARGET,
            offCustomers: edge.offCustomers,
          },
          redisRoundTrip: redisTrips,
          webhookIngest: ingest,
          loginFlood: flood,
          loginLimits: limits,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`written ${out}`);

    const problems = results
      .filter((r) => r.errors > 0 || r.unexpected > 0)
      .map(
        (r) =>
          `${r.name}: ${r.errors} errors, ${r.unexpected} replies not ${r.expect} ` +
          `(${JSON.stringify(r.statusCodes)})`,
      );
    if (limits && limits.rejected === 0) problems.push('login limits: no 429 at all');
    for (const p of problems) console.error(`bench: ${p}`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(work, { recursive: true, force: true });
  }
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

/** The issue's target: acknowledged (durably stored) deliveries per second on 2 cores. */
const INGEST_TARGET = 3000;

function describeIngest(s: IngestSummary): string {
  return [
    '',
    `webhook ingest: ${s.acknowledged} deliveries acknowledged after a durable insert ` +
      `(target >= ${INGEST_TARGET}/s on PostgreSQL)` +
      (s.ratioToBaseline === null
        ? ''
        : `; ${s.ratioToBaseline.toFixed(2)}x the bare node:http + pg INSERT baseline`),
    s.drainSeconds === null
      ? '  backlog not drained within 5 minutes'
      : `  backlog of processing drained ${s.drainSeconds.toFixed(1)} s after the run; ` +
        `${(s.processedPerSec ?? 0).toFixed(0)} deliveries/s processed into messages overall`,
  ].join('\n');
}

/** The issue's target: the edge plugins cost under 15% of the secured read's throughput. */
const EDGE_COST_TARGET = 0.15;

interface EdgeRuns {
  on: Measured;
  off: Measured;
  /** 1 - on/off req/s: the share of the bare server's throughput the edge takes away. */
  cost: number;
  offCustomers: number;
}

/**
 * The secured read with the edge on (the main server) and off (a second server, built with
 * `bareEdge` by bench/edge-off-server.ts, otherwise configured the same), measured back to
 * back. On PostgreSQL it shares the database and the targets; on PGlite it gets its own
 * DATA_DIR and is seeded the same way through its API.
 */
async function measureEdge(
  work: string,
  env: Record<string, string>,
  onBase: string,
  onTargets: Target[],
  sharedDatabase: boolean,
  children: Child[],
): Promise<EdgeRuns> {
  const { child, base } = await startServer('edge-off', work, env, [
    '--import',
    'tsx',
    'bench/edge-off-server.ts',
  ]);
  children.push(child);
  process.stderr.write(`bench: edge-off server (pid ${child.pid})\n`);
  try {
    await waitHealthy(child, `${base}/health`);
    let offTargets = onTargets;
    let cross: Target | undefined;
    if (!sharedDatabase) {
      const orgs = [await registerOrg(base, 'edge-a'), await registerOrg(base, 'edge-b')];
      const seeded: SeededCustomer[] = [];
      for (const org of orgs) {
        seeded.push(...(await seedCustomers(base, org, CUSTOMERS_PER_ORG, SEED_CONCURRENCY)));
      }
      const tokens = new Map(orgs.map((o) => [o.id, o.token]));
      offTargets = seeded.map((c) => ({
        path: `/api/v1/customers/${c.id}`,
        headers: { authorization: `Bearer ${tokens.get(c.organizationId) ?? ''}` },
      }));
      const firstB = seeded.find((c) => c.organizationId === orgs[1]?.id);
      if (firstB && orgs[0]) {
        cross = {
          path: `/api/v1/customers/${firstB.id}`,
          headers: { authorization: `Bearer ${orgs[0].token}` },
        };
      }
      process.stderr.write(`bench: seeded ${seeded.length} customers on the edge-off server\n`);
    }
    const sample = Array.from({ length: 20 }, () => pick(offTargets));
    await verify(base, sample, 'edge-off', cross);
    // The edge really is off there and on here (a security header is its cheapest witness).
    const sniff = async (url: string): Promise<string | null> => {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.headers.get('x-content-type-options');
    };
    if ((await sniff(`${onBase}/health`)) !== 'nosniff' || (await sniff(`${base}/health`))) {
      throw new Error('edge: security headers not on the main server only');
    }
    const on = await measureReads('edge on: GET /api/v1/customers/:id', onBase, onTargets);
    const off = await measureReads('edge off: GET /api/v1/customers/:id', base, offTargets);
    return {
      on,
      off,
      cost: 1 - on.reqPerSec / off.reqPerSec,
      offCustomers: offTargets.length,
    };
  } finally {
    await stop(child);
  }
}

function describeEdge(e: EdgeRuns): string {
  const row = (label: string, m: Measured): string =>
    `  ${label}${m.reqPerSec.toFixed(0)} req/s, p50 ${ms(m.p50Ms)}, p99 ${ms(m.p99Ms)}`;
  return [
    '',
    'edge (security headers, CORS, HTTPS redirect, TRACE refusal, rate limits, load shedding):',
    row('on:  ', e.on),
    row('off: ', e.off),
    `  edge costs ${(e.cost * 100).toFixed(1)}% of throughput ` +
      `(on/off req/s ${(e.on.reqPerSec / e.off.reqPerSec).toFixed(2)}; ` +
      `target < ${EDGE_COST_TARGET * 100}%)`,
  ].join('\n');
}

function describeRedis(trips: RoundTrip[] | null): string {
  if (!trips) return '\nrate limiter: memory counters: no round trip';
  return [
    '',
    "rate limiter's Redis round trip (the counters' Lua script, EVAL):",
    ...trips.map(
      (t) =>
        `  ${t.mode} (${t.inFlight} in flight): ${t.calls} calls, ` +
        `${t.callsPerSec.toFixed(0)}/s, p50 ${t.p50Ms.toFixed(2)} ms, ` +
        `p99 ${t.p99Ms.toFixed(2)} ms, max ${t.maxMs.toFixed(2)} ms`,
    ),
  ].join('\n');
}

function describeReader(label: string, r: ReaderFigures): string {
  const loop = r.eventLoopDelay;
  return (
    `  ${label}${r.reqPerSec.toFixed(0)} req/s, ` +
    (r.p50Ms === null || r.p99Ms === null
      ? `no reply within the run (${r.sent} sent)`
      : `p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}`) +
    (loop
      ? `; server event-loop delay p50 ${ms(loop.p50Ms)}, p99 ${ms(loop.p99Ms)}, ` +
        `max ${ms(loop.maxMs)}`
      : '')
  );
}

function describeFlood(f: FloodSummary): string {
  return [
    '',
    `login flood, limits off: ${f.floodConnections} connections of wrong-password logins ` +
      `while ${f.readerConnections} connections read customers`,
    `  login attempts/s: ${f.attemptsPerSec.toFixed(0)} (${f.attempts} in all, ` +
      `${f.all401 ? 'all 401' : `NOT all 401: ${JSON.stringify(f.statusCodes)}`})`,
    describeReader('reader idle:        ', f.readerIdle),
    describeReader('reader under flood: ', f.readerUnderFlood),
    `  reader p99 under flood / idle: ${f.p99Ratio === null ? '-' : f.p99Ratio.toFixed(2)} ` +
      `(target < ${f.p99RatioTarget})`,
  ].join('\n');
}

function describeLimits(l: LimitsSummary): string {
  const others = Object.entries(l.otherStatuses);
  return [
    '',
    `login limits on (server defaults, RateLimit-Limit ${l.announcedLimit ?? '?'}): ` +
      `${l.connections} connections of wrong-password logins for ${l.seconds} s, one address`,
    `  401 before the first 429: ${l.acceptedBeforeFirst429} (${l.accepted} in all, ` +
      `within ${ms(l.acceptedWithinMs)}: ${l.attemptsPerSec.toFixed(0)} attempts/s)`,
    `  first 429 after ${l.first429AfterMs === null ? '-' : ms(l.first429AfterMs)}; then ` +
      `${l.rejected} x 429, ${l.rejectedPerSec.toFixed(0)}/s, Retry-After ` +
      `${l.retryAfterSeconds ?? '-'} s` +
      (others.length > 0 ? `; other statuses ${JSON.stringify(l.otherStatuses)}` : ''),
    `  per-email lockout: ${l.lockout.failuresBefore429} x 401, then 429 ` +
      `(Retry-After ${l.lockout.retryAfterSeconds ?? '-'} s); the right password then: ` +
      `${l.lockout.rightPasswordStatus}`,
  ].join('\n');
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error('bench failed:', err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
