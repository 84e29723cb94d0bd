import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { services } from '../helpers/services.js';
import { bastion, fatalMessage, startFailure } from './processes.js';

/**
 * Misconfigurations a new user hit, each of which used to look like success or left them
 * guessing: a login outside bastion_app started a server answering 500 to everything, a
 * migration URL alone "migrated" the embedded database, a missing database gave no way
 * forward, an unreachable Redis said only ECONNREFUSED, and `audit verify` as the server's
 * login reported on rows row-level security hid from it.
 */

const svc = services();
const withUser = (url: string, user: string, db?: string) => {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  if (db) u.pathname = `/${db}`;
  return u.toString();
};

describe.runIf(!!svc.databaseUrl)('starting on PostgreSQL', () => {
  const role = `bastion_nogrant_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-pg-start-'));
  let owner: postgres.Sql;

  beforeAll(async () => {
    owner = postgres(svc.migrationUrl!, { max: 1, onnotice: () => {} });
    await owner.unsafe(`create role ${role} login nosuperuser nobypassrls`);
  });
  afterAll(async () => {
    await owner.unsafe(`drop role if exists ${role}`);
    await owner.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a DATABASE_URL login that is not a member of bastion_app stops the start, naming the GRANT to run', async () => {
    const run = await startFailure({
      DATA_DIR: dataDir,
      DATABASE_URL: withUser(svc.databaseUrl!, role),
      DATABASE_MIGRATION_URL: svc.migrationUrl!,
    });
    expect(run.code).toBe(1);
    const msg = fatalMessage(run);
    expect(msg).toContain(`not a member of bastion_app`);
    expect(msg).toContain(`GRANT bastion_app TO ${role};`);
  }, 120_000);

  it.runIf(svc.databaseUrl !== svc.migrationUrl)(
    '`bastion audit verify` as the server login names the owner role it needs (DATABASE_MIGRATION_URL)',
    async () => {
      const run = await bastion(['audit', 'verify'], {
        DATA_DIR: dataDir,
        DATABASE_URL: svc.databaseUrl!,
      });
      expect(run.code).not.toBe(0);
      expect(run.stdout).not.toMatch(/intact|BROKEN/);
      expect(run.stderr).toContain('audit verify must run as the owner role');
      expect(run.stderr).toContain('DATABASE_MIGRATION_URL');
    },
    120_000,
  );

  it.each([
    ['bastion migrate', ['migrate']],
    ['bastion keys rotate', ['keys', 'rotate']],
  ])(
    '`%s` on a database that does not exist fails, naming it and how to create it',
    async (_n, args) => {
      const missing = `nosuchdb_${randomBytes(4).toString('hex')}`;
      const url = withUser(svc.migrationUrl!, new URL(svc.migrationUrl!).username, missing);
      const run = await bastion(args, {
        DATA_DIR: dataDir,
        DATABASE_URL: url,
        DATABASE_MIGRATION_URL: url,
      });
      expect(run.code).not.toBe(0);
      expect(run.stdout).not.toContain('up to date');
      expect(run.stderr).toContain(`database "${missing}" does not exist`);
      expect(run.stderr).toContain(`createdb`);
      expect(run.stderr).toContain(`CREATE DATABASE ${missing}`);
    },
    120_000,
  );
});

describe('start and commands with a bad configuration', () => {
  it('an unreachable Redis stops the start naming REDIS_URL and its address, never its password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bastion-redis-down-'));
    const port = await freePort(); // nothing listens there
    try {
      const run = await startFailure({
        DATA_DIR: dir,
        REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${port}`,
      });
      expect(run.code).toBe(1);
      const msg = fatalMessage(run);
      expect(msg).toMatch(/^REDIS_URL: cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+ /);
      expect(msg).toContain(`127.0.0.1:${port}`);
      expect(run.stderr).not.toContain('s3cret-pw');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('DATABASE_MIGRATION_URL without DATABASE_URL is refused instead of migrating the embedded database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bastion-mig-only-'));
    try {
      const run = await bastion(['migrate'], {
        DATA_DIR: dir,
        DATABASE_MIGRATION_URL: 'postgres://owner@127.0.0.1:5432/bastion',
      });
      expect(run.code).not.toBe(0);
      expect(run.stdout).not.toContain('up to date');
      expect(run.stderr).toContain('DATABASE_URL');
      expect(run.stderr).toContain('set DATABASE_URL too');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
