/** Autocannon runs and their summary rows, shared by the read scenarios and the login ones. */
import autocannon from 'autocannon';
import { pick } from './lib.js';

export const CONNECTIONS = 50;
export const WARMUP_SECONDS = 2;
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
if (!Number.isFinite(DURATION) || DURATION <= 0) throw new Error('BENCH_DURATION: seconds > 0');

export interface Target {
  path: string;
  headers: Record<string, string>;
}

export interface Measured {
  name: string;
  connections: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  /** Replies per status code. */
  statusCodes: Record<string, number>;
  /** The statuses this scenario expects: '2xx', or a list such as '401' or '401,429'. */
  expect: string;
  /** Replies with any other status. */
  unexpected: number;
}

/** GETs a random target (path and its headers) per request. */
export function readTargets(
  base: string,
  targets: readonly Target[],
  connections: number,
  seconds: number,
): Promise<autocannon.Result> {
  return autocannon({
    url: base,
    connections,
    duration: seconds,
    // One request template; each send picks a random target (id and its org's token).
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const t = pick(targets);
          return { ...req, path: t.path, headers: t.headers };
        },
      },
    ],
  });
}

/** A warm-up that is not reported (JIT, pools and caches settle), then the measured run. */
export async function measureReads(
  name: string,
  base: string,
  targets: readonly Target[],
  connections = CONNECTIONS,
): Promise<Measured> {
  process.stderr.write(`  ${name}: warm-up ${WARMUP_SECONDS} s, run ${DURATION} s\n`);
  await readTargets(base, targets, connections, WARMUP_SECONDS);
  return summarize(name, await readTargets(base, targets, connections, DURATION));
}

function statusCounts(r: autocannon.Result): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [status, stat] of Object.entries(r.statusCodeStats ?? {})) {
    out[status] = stat.count ?? 0;
  }
  return out;
}

/** One row; `expect` lists the statuses that are not failures (default: any 2xx). */
export function summarize(
  name: string,
  r: autocannon.Result,
  expect: readonly number[] | '2xx' = '2xx',
): Measured {
  const statusCodes = statusCounts(r);
  const unexpected =
    expect === '2xx'
      ? r.non2xx
      : Object.entries(statusCodes)
          .filter(([status]) => !expect.includes(Number(status)))
          .reduce((sum, [, count]) => sum + count, 0);
  return {
    name,
    connections: r.connections,
    reqPerSec: r.requests.mean,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    expect: expect === '2xx' ? expect : expect.join(','),
    unexpected,
  };
}

export function table(rows: readonly Measured[]): string {
  const head = ['scenario', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'expect', 'non-2xx', 'errors'];
  const body = rows.map((r) => [
    r.name,
    String(r.connections),
    r.reqPerSec.toFixed(0),
    r.requests > 0 ? r.p50Ms.toFixed(1) : '-',
    r.requests > 0 ? r.p99Ms.toFixed(1) : '-',
    r.expect,
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
