import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * One process at a time on an embedded data directory. PGlite has no server to arbitrate:
 * two processes that open the same files (a running server and `bastion keys rotate`)
 * each keep their own copy of the database in memory and the last one to flush wins, so a
 * rotation or migration can vanish and the files can be left corrupt. The lock file sits
 * beside the data directory (never inside it, where a dump of the directory would carry it).
 */

export class DataDirBusyError extends Error {}

interface Holder {
  pid: number;
  command: string;
  since: string;
}

/** What this process is, as a user would recognise it: `bastion start`, `bastion migrate`. */
function thisCommand(): string {
  const script = basename(process.argv[1] ?? 'node').replace(/\.[cm]?[jt]s$/, '');
  if (script === 'main') return 'bastion start';
  if (script === 'cli' || script === 'index')
    return ['bastion', ...process.argv.slice(2)].join(' ');
  return [script, ...process.argv.slice(2)].join(' ');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else; it still holds the lock.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number'
      ? { pid: h.pid, command: String(h.command), since: String(h.since) }
      : null;
  } catch {
    return null;
  }
}

/** Creates the lock file only if none exists (O_EXCL): of two openers exactly one wins. */
function tryCreate(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeFileSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);

function youngerThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < ms;
  } catch {
    return false;
  }
}

const held = new Map<string, string>();
let exitHook = false;

function release(file: string): void {
  const mine = held.get(file);
  if (mine === undefined) return;
  held.delete(file);
  try {
    if (readFileSync(file, 'utf8') === mine) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/**
 * Takes the lock on `pgdata` (the PGlite directory) or throws DataDirBusyError naming its
 * holder. A lock left by a process that no longer runs is taken over. Returns the release.
 */
export function lockDataDir(pgdata: string, shownAs = dirname(pgdata)): () => void {
  const file = join(dirname(pgdata), `${basename(pgdata)}.lock`);
  const content = JSON.stringify({
    pid: process.pid,
    command: thisCommand(),
    since: new Date().toISOString(),
  } satisfies Holder);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, content)) {
      held.set(file, content);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => [...held.keys()].forEach(release));
      }
      return () => release(file);
    }
    const holder = readHolder(file);
    if (holder && (held.has(file) || alive(holder.pid))) {
      throw new DataDirBusyError(
        `the embedded database in ${shownAs} is in use by \`${holder.command}\` (pid ${holder.pid}) since ${holder.since}; stop it first, or use PostgreSQL (DATABASE_URL)`,
      );
    }
    if (holder === null && youngerThan(file, 2_000))
      pause(); // being written right now
    else takeOver(file, holder);
  }
  throw new DataDirBusyError(`cannot lock the embedded database in ${shownAs} (${file})`);
}

/**
 * Removes a lock whose process is gone (or that a crash left half-written). Only the
 * holder of a second, short-lived guard file does so, after reading the lock again: two
 * openers taking over together must not both remove a lock and both go on.
 */
function takeOver(file: string, stale: Holder | null): void {
  const guard = `${file}.takeover`;
  const mark = JSON.stringify({ pid: process.pid });
  if (!tryCreate(guard, mark)) {
    const other = readHolder(guard);
    if (other && !alive(other.pid)) rmSync(guard, { force: true });
    else pause();
    return;
  }
  try {
    const now = readHolder(file);
    const same = now?.pid === stale?.pid && now?.since === stale?.since;
    if (same && (now === null || !alive(now.pid))) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}
