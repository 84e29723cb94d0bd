import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { services as servicesOf } from '../helpers/services.js';

/**
 * CONTRACT section 10: logs are JSON lines carrying the request id, and credentials,
 * cookies, passwords and secret query parameters never reach them. Checked on the real
 * process's stdout, exactly as an operator would collect it.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/main.js');

interface Sent {
  label: string;
  requestId: string;
  status: number;
}

const password = `lantern-${randomBytes(9).toString('hex')}-harbor`;
const bearerSecret = 'secret-token-value';
const cookieSecret = `cookie-${randomBytes(12).toString('hex')}`;
const verifyToken = 'SEKRIT';
const signatureSecret = `sig${randomBytes(16).toString('hex')}`;
/** Personal data a search carries: a customer's email and phone. */
const searchedEmail = `alice-${randomBytes(6).toString('hex')}@example.test`;
const searchedPhone = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

describe('request logs of the real process', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-log-'));
  const jwtSecret = randomBytes(32).toString('base64url');
  const encKey = randomBytes(32).toString('base64');
  let child: ChildProcess;
  let database: Awaited<ReturnType<ReturnType<typeof servicesOf>['isolatedDatabase']>> | undefined;
  let exited: Promise<number | null>;
  let stdout = '';
  let stderr = '';
  let base = '';
  const sent: Sent[] = [];
  /** Secrets that the server itself handed out (tokens, cookies): none may be logged. */
  const issued: string[] = [];

  async function request(label: string, path: string, init: RequestInit = {}) {
    const res = await fetch(`${base}${path}`, { redirect: 'manual', ...init });
    const body = await res.text();
    const requestId = res.headers.get('x-request-id') ?? '';
    sent.push({ label, requestId, status: res.status });
    return { res, body, requestId };
  }

  beforeAll(async () => {
    if (!existsSync(MAIN)) execSync('npm run build', { cwd: ROOT, stdio: 'ignore' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const run = servicesOf();
    database = run.databaseUrl ? await run.isolatedDatabase() : undefined;
    const services: Record<string, string> = { ...database?.env };
    if (run.redisUrl) services.REDIS_URL = run.redisUrl;
    child = spawn(process.execPath, [MAIN], {
      cwd: dataDir,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        COOKIE_SECURE: 'false',
        JWT_SECRET: jwtSecret,
        ENCRYPTION_KEYS: `k1:${encKey}`,
        RATE_LIMIT_AUTH_IP_MAX: '100000',
        RATE_LIMIT_MAX: '100000',
        ...services,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((done) => child.on('exit', (code) => done(code)));

    const deadline = Date.now() + 40_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited: ${stderr}${stdout}`);
      try {
        if ((await fetch(`${base}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`server did not start: ${stderr}${stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // A sign-up and a sign-in with a password (cookie mode: Set-Cookie carries the tokens).
    const email = `log-${randomUUID()}@example.test`;
    const json = { 'content-type': 'application/json' };
    const reg = await request('register', '/api/v1/auth/register', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ organizationName: 'Logs', name: 'Logger', email, password }),
    });
    expect(reg.res.status, reg.body).toBe(201);
    const login = await request('login', '/api/v1/auth/login', {
      method: 'POST',
      headers: { ...json, 'x-request-id': 'client-chosen.id:1' },
      body: JSON.stringify({ email, password }),
    });
    expect(login.res.status, login.body).toBe(200);
    const setCookies = login.res.headers.getSetCookie();
    expect(setCookies.length).toBeGreaterThan(0);
    const cookiePairs = setCookies.map((c) => c.split(';')[0]!);
    for (const pair of cookiePairs) issued.push(pair.slice(pair.indexOf('=') + 1));
    issued.push((JSON.parse(login.body) as { csrfToken: string }).csrfToken);

    const token = await request('token login', '/api/v1/auth/login', {
      method: 'POST',
      headers: { ...json, 'x-auth-mode': 'token' },
      body: JSON.stringify({ email, password }),
    });
    const tokens = JSON.parse(token.body) as { accessToken: string; refreshToken: string };
    issued.push(tokens.accessToken, tokens.refreshToken);

    // Credentials in headers: a made-up bearer, the real session cookies, a made-up cookie.
    await request('bearer', '/api/v1/customers', {
      headers: { authorization: `Bearer ${bearerSecret}` },
    });
    await request('real bearer', '/api/v1/auth/me', {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    const me = await request('cookie', '/api/v1/auth/me', {
      headers: { cookie: [...cookiePairs, `other=${cookieSecret}`].join('; ') },
    });
    expect(me.res.status, me.body).toBe(200);
    // Secrets in the query string, on a route that exists or not.
    await request(
      'webhook verify',
      `/webhooks/whatsapp/${randomUUID()}?hub.mode=subscribe&hub.verify_token=${verifyToken}&hub.challenge=abc`,
    );
    await request(
      'query secrets',
      `/api/v1/customers?access_token=${bearerSecret}&signature=${signatureSecret}&api_key=${cookieSecret}`,
    );
    // Personal data in a search, on a route that answers and on a refused one.
    await request(
      'search',
      `/api/v1/customers?search=${encodeURIComponent(searchedEmail)}&limit=50`,
      {
        headers: { authorization: `Bearer ${tokens.accessToken}` },
      },
    );
    await request(
      'anonymous search',
      `/api/v1/customers?limit=5&search=${encodeURIComponent(searchedPhone)}`,
    );
    // A failing body with the password in it.
    await request('bad login', '/api/v1/auth/login', {
      method: 'POST',
      headers: json,
      body: `{"email": "${email}", "password": "${password}"`,
    });

    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
    ]);
    if (code === 'timeout') child.kill('SIGKILL');
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const lines = () => stdout.split('\n').filter((l) => l.trim() !== '');
  const records = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes JSON lines only', () => {
    expect(lines().length).toBeGreaterThan(sent.length);
    for (const line of lines()) {
      expect(() => JSON.parse(line) as unknown, line).not.toThrow();
      expect(typeof (JSON.parse(line) as Record<string, unknown>).level).not.toBe('undefined');
    }
  });

  it('tags every request line with the request id the client got back', () => {
    const byId = new Map<string, Record<string, unknown>[]>();
    for (const r of records()) {
      if (!('req' in r) && !('res' in r)) continue;
      expect(typeof r.requestId, JSON.stringify(r)).toBe('string');
      byId.set(String(r.requestId), [...(byId.get(String(r.requestId)) ?? []), r]);
    }
    expect(sent.find((s) => s.label === 'login')?.requestId).toBe('client-chosen.id:1');
    for (const s of sent) {
      expect(s.requestId, s.label).not.toBe('');
      const mine = byId.get(s.requestId) ?? [];
      expect(
        mine.some((r) => 'req' in r),
        `${s.label}: no incoming line for ${s.requestId}`,
      ).toBe(true);
      const done = mine.find((r) => 'res' in r);
      expect(done, `${s.label}: no completion line for ${s.requestId}`).toBeDefined();
      expect((done!.res as { statusCode?: number }).statusCode).toBe(s.status);
    }
  });

  it('keeps the non-secret parts of a logged URL', () => {
    const urls = records()
      .map((r) => (r.req as { url?: string } | undefined)?.url)
      .filter((u): u is string => typeof u === 'string');
    const webhook = urls.find((u) => u.startsWith('/webhooks/whatsapp/'));
    expect(webhook).toBeDefined();
    expect(webhook).toContain('hub.mode=subscribe');
  });

  it('logs a search by its keys, never its terms', () => {
    const urls = records()
      .map((r) => (r.req as { url?: string } | undefined)?.url)
      .filter((u): u is string => typeof u === 'string' && u.startsWith('/api/v1/customers?'));
    expect(urls).toContain('/api/v1/customers?search=[redacted]&limit=50');
    expect(urls).toContain('/api/v1/customers?limit=5&search=[redacted]');
  });

  it.each([
    ['a searched email (personal data)', () => searchedEmail],
    ['a searched email, URL-encoded', () => encodeURIComponent(searchedEmail)],
    ['a searched phone number', () => searchedPhone.slice(1)],
    ['the password', () => password],
    ['the bearer token value', () => bearerSecret],
    ['the cookie value', () => cookieSecret],
    ['the verify token in the query', () => verifyToken],
    ['a secret query parameter', () => signatureSecret],
  ])('never writes %s anywhere', (_what, secret) => {
    expect(stdout + stderr).not.toContain(secret());
  });

  it('never writes a token or cookie the server issued', () => {
    expect(issued.length).toBeGreaterThanOrEqual(4);
    for (const value of issued) {
      expect(value.length).toBeGreaterThan(8);
      expect(stdout + stderr, 'an issued credential is in the log').not.toContain(value);
    }
  });

  it('never writes the configured secrets', () => {
    expect(stdout + stderr).not.toContain(jwtSecret);
    expect(stdout + stderr).not.toContain(encKey);
  });
});
