import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { freePort } from '../helpers/ports.js';

/** The commands a user runs, as real processes configured only by their environment. */

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

function baseEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: newKey('k1'),
    ...env,
  };
}

function launch(entry: string, args: string[], env: Record<string, string>) {
  return spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** `npx bastion <args>`. */
export const bastion = (args: string[], env: Record<string, string>): Promise<Run> =>
  collect(launch('src/cli.ts', args, env));

export interface Server {
  pid: number;
  port: number;
  /** SIGTERM, then the exit code and what the process printed. */
  stop(): Promise<Run>;
}

/**
 * `npm start` until it answers /health; a start that fails rejects with the process's
 * output (see startFailure for the starts that are meant to fail).
 */
export async function startServer(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const child = launch('src/main.ts', [], { HOST: '127.0.0.1', PORT: String(port), ...env });
  const ended = collect(child);
  let exited: Run | undefined;
  void ended.then((r) => (exited = r));
  for (const deadline = Date.now() + 90_000; ;) {
    if (exited) throw new Error(`the server exited (${exited.code}): ${exited.stderr}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    port,
    stop: () => {
      child.kill('SIGTERM');
      return ended;
    },
  };
}

/** `npm start` that is expected to stop before listening: its exit code and output. */
export const startFailure = async (env: Record<string, string>): Promise<Run> =>
  collect(launch('src/main.ts', [], { HOST: '127.0.0.1', PORT: String(await freePort()), ...env }));

/** The `msg` of the fatal log line a failed start printed (JSON, like every log line). */
export function fatalMessage(run: Run): string {
  for (const line of run.stderr.split('\n').reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (entry.level === 'fatal' && typeof entry.msg === 'string') return entry.msg;
    } catch {
      // not a log line
    }
  }
  return '';
}
