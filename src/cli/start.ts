import type { Command } from 'commander';
import { buildApp } from '../app.js';
import { ConfigError, loadConfig } from '../config.js';
import { checkKeyIds, MissingKeyError } from '../crypto/key-check.js';
import { explainDatabaseError } from '../db/errors.js';
import { checkLoginRole, connectRedis, openDatabase, StartupError } from '../server.js';

function fail(message: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: message })}\n`);
  process.exit(1);
}

/**
 * Every check that can stop a start runs before listening: a server that listens must be
 * able to answer (its Redis, its database role, the keys its stored values need).
 */
async function serve(): Promise<void> {
  const config = loadConfig();
  const redis = await connectRedis(config);
  const db = await openDatabase(config);
  await db.migrate();
  const roleWarning = await checkLoginRole(db, config);
  await checkKeyIds(db, config.encryptionKeys);
  const app = await buildApp({ config, db, redis });
  for (const w of config.warnings) app.log.warn(w);
  if (roleWarning) app.log.warn(roleWarning);

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    void app
      .close()
      .then(async () => {
        await redis?.quit();
        await db.close();
        clearTimeout(force);
        process.exit(0);
      })
      .catch((err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen({ host: config.host, port: config.port });
}

/** `npm start` / `bastion start`: a start that cannot serve exits 1 with one fatal line. */
export function start(): Promise<void> {
  return serve().catch((err: unknown) => {
    if (err instanceof ConfigError || err instanceof StartupError || err instanceof MissingKeyError)
      fail(err.message);
    fail(
      explainDatabaseError(err) ??
        `startup failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('serve the API on HOST:PORT (what `npm start` runs)')
    .action(start);
}
