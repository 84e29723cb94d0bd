import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------- processes

export interface Child {
  name: string;
  pid: number;
  /** Last lines of its output, shown only when something goes wrong: a healthy run stays quiet. */
  tail: () => string;
  exited: Promise<number | null>;
  proc: ChildProcess;
}

const children = new Set<Child>();

// A crash or Ctrl-C in the bench must not leave servers holding ports and databases.
process.on('exit', () => {
  for (const c of children) killPid(c.pid, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of children) killPid(c.pid, 'SIGKILL');
    process.exit(130);
  });
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function startNode(name: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn`);
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  const child: Child = { name, pid: proc.pid, tail: () => lines.join('\n'), exited, proc };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** SIGTERM by PID, then SIGKILL if it has not gone within 5 s. */
export async function stop(child: Child): Promise<void> {
  if (!children.has(child)) return;
  killPid(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killPid(child.pid, 'SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `GET url` until 200; fails early (with the child's output) if the child dies. */
export async function waitHealthy(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  let dead = false;
  void child.exited.then(() => (dead = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${child.name} exited before it was healthy:\n${child.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${child.name}: ${url} not 200 within ${timeoutMs} ms:\n${child.tail()}`);
}

/** The first of these variables that is set (callers know at least one is). */
export function firstEnv(...names: string[]): string {
  return names.map((n) => process.env[n]).find((v) => v) ?? '';
}

/** Only the named variables reach the children: the bench's own environment stays out. */
export function pass(...names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = process.env[n];
    if (v) out[n] = v;
  }
  return out;
}

/**
 * Spawns the built server (`node dist/main.js`, or `args`) on a free port with fresh secrets,
 * its own DATA_DIR under `work`, the database/Redis variables of the bench's environment, and
 * `env` on top. The caller owns the child (stop it) and waits for health.
 */
export async function startServer(
  name: string,
  work: string,
  env: Record<string, string>,
  args: string[] = ['dist/main.js'],
): Promise<{ child: Child; base: string }> {
  const port = await freePort();
  const child = startNode(name, args, {
    ...pass(
      'PATH',
      'HOME',
      'TMPDIR',
      'DATABASE_URL',
      'DATABASE_MIGRATION_URL',
      'REDIS_URL',
      // libuv's pool runs argon2 (and WebCrypto): the login flood depends on its size.
      'UV_THREADPOOL_SIZE',
    ),
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    COOKIE_SECURE: 'false',
    JWT_SECRET: randomBytes(48).toString('base64url'),
    ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    DATA_DIR: join(work, `data-${name.replace(/\W+/g, '-')}`),
    ...env,
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------- HTTP

interface JsonReply {
  status: number;
  body: unknown;
}

export async function call(
  url: string,
  init: { method?: string; token?: string; headers?: Record<string, string>; json?: unknown } = {},
): Promise<JsonReply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text: it is only ever shown in an error message
  }
  return { status: res.status, body };
}

/** Reads a string field at `path` (e.g. 'organization.id') or throws with the whole reply. */
export function str(reply: JsonReply, path: string): string {
  let v: unknown = reply.body;
  for (const key of path.split('.')) {
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  }
  if (typeof v !== 'string') {
    throw new Error(`expected ${path} in reply ${reply.status}: ${JSON.stringify(reply.body)}`);
  }
  return v;
}

function expectStatus(what: string, reply: JsonReply, status: number): void {
  if (reply.status !== status) {
    throw new Error(`${what}: ${reply.status} (wanted ${status}): ${JSON.stringify(reply.body)}`);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; order of results follows `items`. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---------------------------------------------------------------- seeding

export interface Org {
  id: string;
  token: string;
  /** The owner's credentials (the login flood tries wrong passwords for real accounts too). */
  email: string;
  password: string;
}

export interface SeededCustomer {
  id: string;
  organizationId: string;
  name: string;
  phone: string;
}

const WORDS = [
  'amber', 'basalt', 'cobalt', 'drizzle', 'ember', 'fjord', 'granite', 'harbor', 'indigo',
  'juniper', 'kestrel', 'lantern', 'meadow', 'nimbus', 'obsidian', 'pebble', 'quartz',
  'rowan', 'saffron', 'tundra', 'umber', 'velvet', 'willow', 'zephyr',
]; // prettier-ignore

// Random words plus digits: long enough (>= 15) and never on a common-password list.
function password(): string {
  const word = (): string => WORDS[randomInt(WORDS.length)] ?? 'quartz';
  return `${word()}-${word()}-${word()}-${randomInt(1e6, 1e7)}`;
}

/**
 * Registers an organization and signs its owner in with a bearer token, like an API client.
 * `headers` go with both requests (the login-limit phase sends its own X-Forwarded-For).
 */
export async function registerOrg(
  base: string,
  label: string,
  headers: Record<string, string> = {},
): Promise<Org> {
  const email = `bench-${label}-${randomBytes(6).toString('hex')}@example.com`;
  const pw = password();
  const reg = await call(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers,
    json: { organizationName: `Bench ${label}`, name: `Bench ${label} owner`, email, password: pw },
  });
  expectStatus(`register ${label}`, reg, 201);
  const login = await call(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { ...headers, 'x-auth-mode': 'token' },
    json: { email, password: pw },
  });
  expectStatus(`login ${label}`, login, 200);
  return {
    id: str(reg, 'organization.id'),
    token: str(login, 'accessToken'),
    email,
    password: pw,
  };
}

export async function seedCustomers(
  base: string,
  org: Org,
  count: number,
  concurrency: number,
): Promise<SeededCustomer[]> {
  const indexes = Array.from({ length: count }, (_, i) => i);
  return mapLimit(indexes, concurrency, async (i) => {
    // +1555 and 7 digits: valid E.164, unique within the organization by construction.
    const phone = `+1555${String(i).padStart(7, '0')}`;
    const name = `Customer ${i}`;
    const reply = await call(`${base}/api/v1/customers`, {
      method: 'POST',
      token: org.token,
      json: { name, phone },
    });
    expectStatus(`create customer ${i}`, reply, 201);
    return { id: str(reply, 'id'), organizationId: org.id, name, phone };
  });
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

// Math.random, not crypto: this runs once per benchmark request and only spreads the load.
export function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}
