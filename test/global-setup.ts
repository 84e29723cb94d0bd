import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDatabase } from '../src/db/client.js';
import { services } from './helpers/services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string;
  }
}

/**
 * Once per run: migrate the real PostgreSQL (when DATABASE_URL is set) or build one
 * migrated PGlite data dir that every test file starts from, instead of paying PGlite's
 * multi-second cold start and the migrations in each file.
 */
export default async function setup(project: TestProject) {
  const env = services();
  const dir = mkdtempSync(join(tmpdir(), 'bastion-test-'));
  if (env.databaseUrl) {
    const db = await createDatabase({ url: env.databaseUrl, migrationUrl: env.migrationUrl });
    try {
      await db.migrate();
      await env.grantAppRole();
      await db.ping();
    } finally {
      await db.close();
    }
    project.provide('pgliteSnapshot', '');
  } else {
    const db = await createDatabase({});
    await db.migrate();
    const file = join(dir, 'pglite.tar');
    writeFileSync(file, Buffer.from(await (await db.dumpDataDir!()).arrayBuffer()));
    await db.close();
    project.provide('pgliteSnapshot', file);
  }
  if (env.redisUrl) await env.pingRedis();
  return () => rmSync(dir, { recursive: true, force: true });
}
