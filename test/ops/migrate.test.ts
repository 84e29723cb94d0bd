import { execSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../src/db/migrations/index.js';

/** CONTRACT section 1: `bastion migrate`, safe when several instances run it at once. */

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/cli.js migrate` as a real process, with only the environment given. */
function migrateProcess(env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, 'migrate'], {
      cwd: env.DATA_DIR ?? ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        JWT_SECRET: randomBytes(32).toString('base64url'),
        ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  if (!existsSync(CLI)) execSync('npm run build', { cwd: ROOT, stdio: 'ignore' });
});

const ownerUrl = process.env.DATABASE_MIGRATION_URL || process.env.DATABASE_URL;

describe.runIf(!!process.env.DATABASE_URL)('migrate on PostgreSQL', () => {
  const name = `bastion_mig_${randomBytes(6).toString('hex')}`;
  let admin: postgres.Sql;
  let url: string;
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-mig-'));

  beforeAll(async () => {
    const server = new URL(ownerUrl!);
    server.pathname = '/postgres';
    admin = postgres(server.toString(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const target = new URL(ownerUrl!);
    target.pathname = `/${name}`;
    url = target.toString();
  });
  afterAll(async () => {
    await admin?.unsafe(`drop database if exists ${name} with (force)`);
    await admin?.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lets two instances migrate a fresh database at once, each migration applied once', async () => {
    const env = { DATABASE_URL: url, DATABASE_MIGRATION_URL: url, DATA_DIR: dataDir };
    const runs = await Promise.all([migrateProcess(env), migrateProcess(env)]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    // One of them did the work; the other queued behind the lock and found nothing left.
    const outputs = runs.map((r) => r.stdout.trim()).sort();
    expect(outputs).toEqual([`applied: ${migrations.map((m) => m.id).join(', ')}`, 'up to date']);

    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await db<{ id: string; n: number }[]>`
        select id, count(*)::int as n from bastion_migrations group by id order by id`;
      expect(rows).toEqual(migrations.map((m) => ({ id: m.id, n: 1 })));
      const tables = await db<{ name: string | null }[]>`
        select to_regclass(t)::text as name
        from unnest(array['organizations', 'users', 'sessions', 'refresh_tokens', 'customers']) t`;
      expect(tables.map((t) => t.name)).toEqual([
        'organizations',
        'users',
        'sessions',
        'refresh_tokens',
        'customers',
      ]);
    } finally {
      await db.end();
    }

    const third = await migrateProcess(env);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain('up to date');
  }, 120_000);
});

describe.runIf(!process.env.DATABASE_URL)('migrate on the embedded database', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-mig-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('migrates a fresh DATA_DIR, then says it is up to date', async () => {
    const first = await migrateProcess({ DATA_DIR: dataDir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`applied: ${migrations.map((m) => m.id).join(', ')}`);
    expect(existsSync(join(dataDir, 'pgdata'))).toBe(true);

    const second = await migrateProcess({ DATA_DIR: dataDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('up to date');
  }, 120_000);
});
