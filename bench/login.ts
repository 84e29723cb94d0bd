/**
 * The login scenarios of the identity issue ("Measure"):
 *
 * - flood, limits off: 50 connections of wrong-password logins (argon2id on every one) while
 *   10 connections read customers; the reader's p50/p99 under the flood against the same
 *   reader alone just before. argon2 runs on libuv's pool: if it blocked the event loop, the
 *   reader's p99 would climb by the hash time.
 * - limits on: a second server with the default limits; one client sends wrong-password logins
 *   as fast as it can; how many reach argon2 (401) before the per-address limit answers 429,
 *   at what rate, and how fast the 429s come afterwards. Also the per-email lockout: wrong
 *   passwords for one account until 429, then the right password (still 429).
 */
import { randomBytes, randomInt } from 'node:crypto';
import autocannon from 'autocannon';
import { pick, sleep, type Org } from './lib.js';
import {
  CONNECTIONS,
  DURATION,
  WARMUP_SECONDS,
  readTargets,
  summarize,
  type Measured,
  type Target,
} from './measure.js';

const LOGIN_PATH = '/api/v1/auth/login';
const READER_CONNECTIONS = 10;
/** The flood starts this long before the reader and ends this long after it. */
const FLOOD_MARGIN_SECONDS = 1;
/** Share of flood requests for a real account (wrong password); the rest are unknown emails. */
const OWNER_SHARE = 0.1;
const LIMITS_CONNECTIONS = 10;
const LIMITS_SECONDS = Math.min(DURATION, 5);
/** The target of the issue: reader p99 under the flood below 2x its idle p99. */
export const P99_RATIO_TARGET = 2;

const unknownEmail = (): string => `nobody-${randomBytes(6).toString('hex')}@example.com`;
const wrongPassword = (): string => `wrong-password-${randomBytes(4).toString('hex')}`;

/** POST /auth/login, a fresh wrong password per request, for `email()`. */
function loginRequest(email: () => string, headers: Record<string, string>): autocannon.Request {
  return {
    method: 'POST',
    path: LOGIN_PATH,
    headers: { ...headers, 'content-type': 'application/json' },
    setupRequest: (req) => ({
      ...req,
      body: JSON.stringify({ email: email(), password: wrongPassword() }),
    }),
  };
}

/** The server's event-loop delay over a window, from its /metrics (prom-client). */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ReaderFigures {
  reqPerSec: number;
  /** null when no reply came back within the run. */
  p50Ms: number | null;
  p99Ms: number | null;
  replies: number;
  /** Requests sent (each connection's last one is still unanswered when the run ends). */
  sent: number;
  /** null when /metrics could not be read. */
  eventLoopDelay: LoopDelay | null;
}

export interface FloodSummary {
  floodConnections: number;
  readerConnections: number;
  seconds: number;
  /** Wrong-password logins answered per second (limits off: every one ran argon2). */
  attemptsPerSec: number;
  attempts: number;
  /** All flood replies were 401 (no 429, no other status, no error). */
  all401: boolean;
  /** The flood's replies per status. */
  statusCodes: Record<string, number>;
  readerIdle: ReaderFigures;
  readerUnderFlood: ReaderFigures;
  /** Reader p99 under the flood / idle p99; null when the reader got no reply under it. */
  p99Ratio: number | null;
  p99RatioTarget: number;
}

function reader(m: Measured, r: autocannon.Result, loop: LoopDelay | null): ReaderFigures {
  const replied = m.requests > 0;
  return {
    reqPerSec: m.reqPerSec,
    p50Ms: replied ? m.p50Ms : null,
    p99Ms: replied ? m.p99Ms : null,
    replies: m.requests,
    sent: r.requests.sent,
    eventLoopDelay: loop,
  };
}

/**
 * Reads the event-loop delay the server measured since the previous call: prom-client's
 * default metrics sample it with monitorEventLoopDelay and reset the histogram on every
 * scrape, so a scrape before a window and one after it bracket that window.
 */
async function loopDelay(base: string): Promise<LoopDelay | null> {
  try {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status !== 200) return null;
    const value = (name: string): number => {
      const m = new RegExp(
        `^nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)$`,
        'm',
      ).exec(text);
      return m?.[1] === undefined ? NaN : Number(m[1]) * 1000;
    };
    const loop = { p50Ms: value('p50'), p99Ms: value('p99'), maxMs: value('max') };
    return Object.values(loop).every(Number.isFinite) ? loop : null;
  } catch {
    return null;
  }
}

/** Needs a server with the login limits lifted (RATE_LIMIT_AUTH_IP_MAX, ..._LOGIN_FAILURES). */
export async function loginFlood(
  base: string,
  targets: readonly Target[],
  owners: readonly Org[],
): Promise<{ rows: Measured[]; summary: FloodSummary }> {
  const readerName = `reader GET /api/v1/customers/:id`;
  process.stderr.write(
    `  ${readerName} idle: warm-up ${WARMUP_SECONDS} s, run ${DURATION} s\n` +
      `  login flood: ${CONNECTIONS} connections for ${DURATION + 2 * FLOOD_MARGIN_SECONDS} s, ` +
      `the reader again for ${DURATION} s inside it\n`,
  );
  await readTargets(base, targets, READER_CONNECTIONS, WARMUP_SECONDS);
  await loopDelay(base); // resets the server's histogram: the next scrape covers the idle run
  const idleResult = await readTargets(base, targets, READER_CONNECTIONS, DURATION);
  const idleLoop = await loopDelay(base);
  const idle = summarize(`${readerName}, idle`, idleResult);

  const email = (): string =>
    Math.random() < OWNER_SHARE && owners.length > 0 ? pick(owners).email : unknownEmail();
  // Both created before either is awaited, and awaited together: no rejection goes unhandled.
  const flood = autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION + 2 * FLOOD_MARGIN_SECONDS,
    requests: [loginRequest(email, {})],
  });
  const underFlood = (async () => {
    await sleep(FLOOD_MARGIN_SECONDS * 1000);
    await loopDelay(base);
    const result = await readTargets(base, targets, READER_CONNECTIONS, DURATION);
    return { result, loop: await loopDelay(base) };
  })();
  const [floodResult, loaded] = await Promise.all([flood, underFlood]);

  const floodRow = summarize(`POST ${LOGIN_PATH} wrong password, limits off`, floodResult, [401]);
  const loadedRow = summarize(`${readerName}, under the login flood`, loaded.result);
  const readerIdle = reader(idle, idleResult, idleLoop);
  const readerUnderFlood = reader(loadedRow, loaded.result, loaded.loop);
  return {
    rows: [idle, loadedRow, floodRow],
    summary: {
      floodConnections: CONNECTIONS,
      readerConnections: READER_CONNECTIONS,
      seconds: DURATION,
      attemptsPerSec: floodRow.reqPerSec,
      attempts: floodRow.requests,
      all401:
        floodRow.unexpected === 0 &&
        floodRow.errors === 0 &&
        floodRow.statusCodes['401'] === floodRow.requests,
      statusCodes: floodRow.statusCodes,
      readerIdle,
      readerUnderFlood,
      p99Ratio:
        readerUnderFlood.p99Ms === null || readerIdle.p99Ms === null
          ? null
          : readerUnderFlood.p99Ms / readerIdle.p99Ms,
      p99RatioTarget: P99_RATIO_TARGET,
    },
  };
}

export interface LimitsSummary {
  connections: number;
  seconds: number;
  /** The RateLimit-Limit the server announced on /auth/* (RATE_LIMIT_AUTH_IP_MAX). */
  announcedLimit: number | null;
  /** 401s in all: the attempts that reached argon2. */
  accepted: number;
  /** 401s received before the first 429 arrived (the rest were in flight then). */
  acceptedBeforeFirst429: number;
  /** From the first request to the last 401, and those 401s per second over it. */
  acceptedWithinMs: number;
  attemptsPerSec: number;
  /** From the first request to the first 429. */
  first429AfterMs: number | null;
  rejected: number;
  /** 429s per second from the first 429 to the last reply. */
  rejectedPerSec: number;
  retryAfterSeconds: number | null;
  /** Any status other than 401 and 429. */
  otherStatuses: Record<string, number>;
  lockout: LockoutSummary;
}

export interface LockoutSummary {
  /** Wrong passwords for one account answered 401 before the first 429. */
  failuresBefore429: number;
  /** The right password, once locked. */
  rightPasswordStatus: number;
  retryAfterSeconds: number | null;
}

/** An address of 198.18.0.0/15 (RFC 2544, benchmarking), for X-Forwarded-For. */
export function benchAddress(): string {
  return `198.${18 + randomInt(2)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

const header = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

const numberOrNull = (value: string | null | undefined): number | null =>
  value === null || value === undefined || value === '' ? null : Number(value);

/**
 * Needs a server with the default login limits and TRUST_PROXY=127.0.0.1: each part sends
 * its own X-Forwarded-For address, so the per-address counters start at zero even when they
 * live in a Redis that earlier runs (or the flood) filled.
 */
export async function loginLimits(
  base: string,
  owner: Org,
): Promise<{ row: Measured; summary: LimitsSummary }> {
  const lockout = await probeLockout(base, owner);

  process.stderr.write(
    `  login limits on: ${LIMITS_CONNECTIONS} connections for ${LIMITS_SECONDS} s\n`,
  );
  const replies: { at: number; status: number }[] = [];
  let announcedLimit: number | null = null;
  let retryAfter: string | undefined;
  const request = loginRequest(unknownEmail, { 'x-forwarded-for': benchAddress() });
  request.onResponse = (status, _body, _context, headers) => {
    replies.push({ at: performance.now(), status });
    announcedLimit ??= numberOrNull(header(headers?.['ratelimit-limit']));
    if (status === 429) retryAfter ??= header(headers?.['retry-after']);
  };
  const start = performance.now();
  const result = await autocannon({
    url: base,
    connections: LIMITS_CONNECTIONS,
    duration: LIMITS_SECONDS,
    requests: [request],
  });
  const row = summarize(`POST ${LOGIN_PATH} wrong password, limits on`, result, [401, 429]);

  const first429 = replies.findIndex((r) => r.status === 429);
  const accepted = replies.filter((r) => r.status === 401);
  const rejected = replies.filter((r) => r.status === 429);
  const lastAcceptedAt = accepted.at(-1)?.at ?? start;
  const first429At = first429 >= 0 ? (replies[first429]?.at ?? null) : null;
  const lastAt = replies.at(-1)?.at ?? start;
  const otherStatuses: Record<string, number> = {};
  for (const r of replies) {
    if (r.status !== 401 && r.status !== 429) {
      otherStatuses[r.status] = (otherStatuses[r.status] ?? 0) + 1;
    }
  }
  return {
    row,
    summary: {
      connections: LIMITS_CONNECTIONS,
      seconds: LIMITS_SECONDS,
      announcedLimit,
      accepted: accepted.length,
      acceptedBeforeFirst429: (first429 >= 0 ? replies.slice(0, first429) : replies).filter(
        (r) => r.status === 401,
      ).length,
      acceptedWithinMs: lastAcceptedAt - start,
      attemptsPerSec: accepted.length / ((lastAcceptedAt - start) / 1000),
      first429AfterMs: first429At === null ? null : first429At - start,
      rejected: rejected.length,
      rejectedPerSec:
        first429At === null || lastAt <= first429At
          ? 0
          : rejected.length / ((lastAt - first429At) / 1000),
      retryAfterSeconds: numberOrNull(retryAfter),
      otherStatuses,
      lockout,
    },
  };
}

/** Wrong passwords for the owner, one at a time, until 429 (at most 20); then the right one. */
async function probeLockout(base: string, owner: Org): Promise<LockoutSummary> {
  const headers = { 'content-type': 'application/json', 'x-forwarded-for': benchAddress() };
  const login = async (password: string): Promise<Response> => {
    const res = await fetch(base + LOGIN_PATH, {
      method: 'POST',
      headers,
      body: JSON.stringify({ email: owner.email, password }),
    });
    await res.arrayBuffer();
    return res;
  };
  let failures = 0;
  for (let i = 0; i < 20; i++) {
    const res = await login(wrongPassword());
    if (res.status === 429) {
      const right = await login(owner.password);
      return {
        failuresBefore429: failures,
        rightPasswordStatus: right.status,
        retryAfterSeconds: numberOrNull(res.headers.get('retry-after')),
      };
    }
    if (res.status !== 401) throw new Error(`lockout probe: ${res.status} for a wrong password`);
    failures++;
  }
  throw new Error(`lockout probe: still no 429 after ${failures} wrong passwords`);
}
