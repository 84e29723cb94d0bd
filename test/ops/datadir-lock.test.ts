import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bastion, newKey, startServer } from './processes.js';

/**
 * Defect: `bastion keys rotate` run beside a running server on the embedded database
 * printed success and the rotation was lost (two writers on one PGlite data directory).
 * The embedded database is always available, so this runs in every mode.
 */

let dataDir: string;
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const lockFile = () => join(dataDir, 'pgdata.lock');

describe('one process at a time on an embedded data directory', () => {
  const commands = [['keys', 'rotate'], ['migrate'], ['audit', 'verify']];

  it('`bastion keys rotate`, `migrate` and `audit verify` refuse while `bastion start` holds DATA_DIR, naming it; all work once it stops', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bastion-lock-'));
    const env = { DATA_DIR: dataDir, ENCRYPTION_KEYS: newKey('k1') };
    const server = await startServer(env);
    for (const args of commands) {
      const refused = await bastion(args, env);
      expect(refused.code, args.join(' ')).not.toBe(0);
      expect(refused.stderr).toContain(`the embedded database in ${dataDir} is in use by`);
      expect(refused.stderr).toContain(`\`bastion start\` (pid ${server.pid})`);
      expect(refused.stderr).toContain('stop it first, or use PostgreSQL');
      expect(refused.stdout).toBe('');
    }
    const stopped = await server.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(existsSync(lockFile())).toBe(false);
    for (const args of commands) {
      const after = await bastion(args, env);
      expect(after.code, `${args.join(' ')}: ${after.stderr}`).toBe(0);
      expect(existsSync(lockFile())).toBe(false);
    }
  }, 300_000);

  it('a server refuses to start on a data directory another command holds', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bastion-lock-'));
    const env = { DATA_DIR: dataDir, ENCRYPTION_KEYS: newKey('k1') };
    const first = await startServer(env);
    try {
      await expect(startServer(env)).rejects.toThrow(
        new RegExp(`in use by \`bastion start\` \\(pid ${first.pid}\\)`),
      );
    } finally {
      await first.stop();
    }
  }, 180_000);

  it.each([
    [
      'a dead process',
      () =>
        JSON.stringify({
          pid: deadPid(),
          command: 'bastion start',
          since: new Date().toISOString(),
        }),
    ],
    ['an old crash half-way through writing it', () => ''],
  ])(
    'a stale lock left by %s is taken over',
    async (_what, content) => {
      dataDir = mkdtempSync(join(tmpdir(), 'bastion-lock-'));
      const stale = content();
      writeFileSync(lockFile(), stale);
      if (stale === '') utimesSync(lockFile(), new Date(0), new Date(0));
      const run = await bastion(['migrate'], { DATA_DIR: dataDir });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('applied:');
      expect(existsSync(lockFile())).toBe(false);
    },
    120_000,
  );
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
    encoding: 'utf8',
  });
  return Number(child.stdout.trim());
}
