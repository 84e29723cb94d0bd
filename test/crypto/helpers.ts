import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { services } from '../helpers/services.js';

export const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

/** A keyring from an ENCRYPTION_KEYS value (`id:base64,...`, the first one active). */
export const keyring = (value: string) =>
  new Keyring(
    value.split(',').map((entry) => {
      const [id, key] = entry.split(':') as [string, string];
      return { id, key: Buffer.from(key, 'base64') };
    }),
  );

/**
 * A database of its own: rotation rewrites every organization's rows, so it must never run
 * on the database other test files share. PGlite: a copy of the migrated snapshot under
 * `dataDir/pgdata` (where the CLI looks); PostgreSQL: a fresh database, migrated.
 */
export interface Isolated {
  dataDir: string;
  /** For the CLI: DATABASE_URL / DATABASE_MIGRATION_URL, or nothing on PGlite. */
  env: Record<string, string>;
  migrationUrl: string | undefined;
  open(): Promise<Database>;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function isolatedDatabase(): Promise<Isolated> {
  const svc = services();
  const dataDir = mkdtempSync(join(tmpdir(), 'bastion-rotate-'));
  if (!svc.databaseUrl) {
    const snapshot = new Blob([readFileSync(inject('pgliteSnapshot'))]);
    const first = await createDatabase({ dataDir: join(dataDir, 'pgdata'), loadDataDir: snapshot });
    await first.close();
    return {
      dataDir,
      env: {},
      migrationUrl: undefined,
      open: () => createDatabase({ dataDir: join(dataDir, 'pgdata') }),
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `bastion_rot_${randomBytes(6).toString('hex')}`;
  const admin = postgres(withDatabase(svc.migrationUrl!, 'postgres'), {
    max: 1,
    onnotice: () => {},
  });
  await admin.unsafe(`create database ${name}`);
  const ownerUrl = withDatabase(svc.migrationUrl!, name);
  const loginUrl = withDatabase(svc.databaseUrl, name);
  const migrator = await createDatabase({ url: ownerUrl, migrationUrl: ownerUrl, poolSize: 1 });
  await migrator.migrate();
  await migrator.close();
  return {
    dataDir,
    env: { DATABASE_URL: loginUrl, DATABASE_MIGRATION_URL: ownerUrl },
    migrationUrl: ownerUrl,
    open: () => createDatabase({ url: loginUrl, migrationUrl: ownerUrl, poolSize: 2 }),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Shared by every app of this run, so a token of one app is valid on the next. */
const JWT_SECRET = randomBytes(32).toString('base64url');

/** The app over a given database with a given ENCRYPTION_KEYS. */
export async function appOn(
  db: Database,
  encryptionKeys: string,
  dataDir: string,
): Promise<FastifyInstance> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    JWT_SECRET,
    ENCRYPTION_KEYS: encryptionKeys,
    PUBLIC_URL: 'https://bastion.test',
  });
  const app = await buildApp({ config, db });
  await app.ready();
  return app;
}
