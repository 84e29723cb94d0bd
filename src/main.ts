import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { checkKeyIds, MissingKeyError } from './crypto/key-check.js';
import { explainDatabaseError } from './db/errors.js';
import { checkLoginRole, connectRedis, openDatabase, StartupError } from './server.js';

function fail(message: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: message })}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
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

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof MissingKeyError)
    fail(err.message);
  const explained = explainDatabaseError(err);
  if (explained) fail(explained);
  fail(`startup failed: ${err instanceof Error ? err.message : String(err)}`);
});
