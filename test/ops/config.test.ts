import { execSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** CONTRACT section 1: configuration, secrets and refusing to start without them. */

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/main.js');

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-config-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const jwtSecret = () => randomBytes(32).toString('base64url');
const key = (bytes = 32) => randomBytes(bytes).toString('base64');
const encryptionKeys = () => `k1:${key()}`;

/** The ConfigError loadConfig throws for this environment (fails the test if none). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

describe('secrets in production', () => {
  it('refuses to run without JWT_SECRET, naming it', () => {
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.variable).toBe('JWT_SECRET');
    expect(err.message).toContain('JWT_SECRET');
  });

  it('refuses to run without ENCRYPTION_KEYS, naming it', () => {
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: jwtSecret(),
    });
    expect(err.variable).toBe('ENCRYPTION_KEYS');
    expect(err.message).toContain('ENCRYPTION_KEYS');
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
  ])('treats an %s JWT_SECRET as missing', (_what, value) => {
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: value,
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.message).toContain('JWT_SECRET');
  });

  it('generates nothing in production: no secrets.json appears', () => {
    const dir = tempDir();
    configError({ NODE_ENV: 'production', DATA_DIR: dir });
    expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
  });

  it('starts with both secrets given', () => {
    const secret = jwtSecret();
    const config = loadConfig({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: secret,
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(config.jwtSecret).toBe(secret);
    expect(config.encryptionKeys).toHaveLength(1);
    expect(config.encryptionKeys[0]!.key).toHaveLength(32);
  });
});

describe('JWT_SECRET length', () => {
  it.each([
    ['production', '31 ASCII bytes', 'x'.repeat(31)],
    ['development', '31 ASCII bytes', 'x'.repeat(31)],
    ['test', '31 ASCII bytes', 'x'.repeat(31)],
    ['production', '15 two-byte characters (30 bytes)', 'é'.repeat(15)],
    ['production', 'a single byte', 'x'],
  ])('in %s refuses a JWT_SECRET of %s, naming it', (env, _what, secret) => {
    const err = configError({
      NODE_ENV: env,
      DATA_DIR: tempDir(),
      JWT_SECRET: secret,
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.variable).toBe('JWT_SECRET');
    expect(err.message).toContain('JWT_SECRET');
    expect(err.message).not.toContain(secret);
  });

  it.each([
    ['32 ASCII bytes', 'x'.repeat(32)],
    ['16 two-byte characters (32 bytes)', 'é'.repeat(16)],
  ])('accepts a JWT_SECRET of %s', (_what, secret) => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: secret,
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(config.jwtSecret).toBe(secret);
  });
});

describe('ENCRYPTION_KEYS format', () => {
  it.each([
    ['a 31-byte key', () => `k1:${key(31)}`],
    ['a 33-byte key', () => `k1:${key(33)}`],
    ['a 16-byte key', () => `k1:${key(16)}`],
    ['a missing id', () => `:${key()}`],
    ['no separator at all', () => key()],
    ['an id with spaces', () => `my key:${key()}`],
    ['text that is not base64', () => 'k1:this-is-not-a-base64-key!!'],
    ['an empty key', () => 'k1:'],
    ['only commas', () => ',,'],
    ['a duplicate id', () => `k1:${key()},k1:${key()}`],
    ['a good key followed by a bad one', () => `k1:${key()},k2:${key(8)}`],
  ])('refuses %s, naming ENCRYPTION_KEYS', (_what, value) => {
    const keys = value();
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: jwtSecret(),
      ENCRYPTION_KEYS: keys,
    });
    expect(err.message).toContain('ENCRYPTION_KEYS');
    // The key material itself never appears in the message.
    const material = keys.split(',').map((e) => e.slice(e.indexOf(':') + 1));
    for (const m of material) if (m.length >= 8) expect(err.message).not.toContain(m);
  });

  it('accepts several keys, the first one active', () => {
    const first = key();
    const config = loadConfig({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      JWT_SECRET: jwtSecret(),
      ENCRYPTION_KEYS: `new:${first}, old:${key()}`,
    });
    expect(config.encryptionKeys.map((k) => k.id)).toEqual(['new', 'old']);
    expect(config.encryptionKeys[0]!.key.equals(Buffer.from(first, 'base64'))).toBe(true);
  });
});

describe('secrets from files (NAME_FILE)', () => {
  it('reads JWT_SECRET_FILE and ENCRYPTION_KEYS_FILE, trimming the trailing newline', () => {
    const dir = tempDir();
    const secret = jwtSecret();
    const keys = encryptionKeys();
    writeFileSync(join(dir, 'jwt'), `${secret}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'keys'), `${keys}\n`, { mode: 0o600 });
    const config = loadConfig({
      NODE_ENV: 'production',
      DATA_DIR: dir,
      JWT_SECRET_FILE: join(dir, 'jwt'),
      ENCRYPTION_KEYS_FILE: join(dir, 'keys'),
    });
    expect(config.jwtSecret).toBe(secret);
    expect(config.encryptionKeys[0]!.key.equals(Buffer.from(keys.slice(3), 'base64'))).toBe(true);
  });

  it('applies the same rules to a secret read from a file (short JWT_SECRET)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'jwt'), 'x'.repeat(31));
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: dir,
      JWT_SECRET_FILE: join(dir, 'jwt'),
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.message).toContain('JWT_SECRET');
  });

  it('refuses a JWT_SECRET_FILE that cannot be read, naming it', () => {
    const dir = tempDir();
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: dir,
      JWT_SECRET_FILE: join(dir, 'missing'),
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.message).toContain('JWT_SECRET_FILE');
  });

  it('refuses JWT_SECRET and JWT_SECRET_FILE together', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'jwt'), jwtSecret());
    const err = configError({
      NODE_ENV: 'production',
      DATA_DIR: dir,
      JWT_SECRET: jwtSecret(),
      JWT_SECRET_FILE: join(dir, 'jwt'),
      ENCRYPTION_KEYS: encryptionKeys(),
    });
    expect(err.message).toContain('JWT_SECRET');
  });
});

describe('generated development secrets', () => {
  it.each(['development', 'test'])(
    'in %s generates DATA_DIR/secrets.json (mode 0600) once and reuses it',
    (env) => {
      const dir = tempDir();
      const first = loadConfig({ NODE_ENV: env, DATA_DIR: dir });
      const file = join(dir, 'secrets.json');
      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(Buffer.byteLength(first.jwtSecret)).toBeGreaterThanOrEqual(32);
      expect(first.encryptionKeys[0]!.key).toHaveLength(32);
      expect(first.warnings.join('\n')).toMatch(/JWT_SECRET/);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(stored.JWT_SECRET).toBe(first.jwtSecret);

      const second = loadConfig({ NODE_ENV: env, DATA_DIR: dir });
      expect(second.jwtSecret).toBe(first.jwtSecret);
      expect(second.encryptionKeys).toEqual(first.encryptionKeys);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    },
  );

  it('has no hard-coded fallback: two fresh data dirs get different secrets', () => {
    const a = loadConfig({ NODE_ENV: 'development', DATA_DIR: tempDir() });
    const b = loadConfig({ NODE_ENV: 'development', DATA_DIR: tempDir() });
    expect(a.jwtSecret).not.toBe(b.jwtSecret);
    expect(a.encryptionKeys[0]!.key.equals(b.encryptionKeys[0]!.key)).toBe(false);
  });

  it('generates only what is missing and keeps a given secret out of the file', () => {
    const dir = tempDir();
    const secret = jwtSecret();
    const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, JWT_SECRET: secret });
    expect(config.jwtSecret).toBe(secret);
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).not.toContain(secret);
  });

  it('tightens a secrets.json left readable by others back to 0600', () => {
    const dir = tempDir();
    loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    execSync(`chmod 644 ${JSON.stringify(file)}`);
    loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('the real process', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) execSync('npm run build', { cwd: ROOT, stdio: 'ignore' });
  });

  it.each([
    ['JWT_SECRET missing', 'JWT_SECRET', { ENCRYPTION_KEYS: encryptionKeys() }],
    [
      'JWT_SECRET short',
      'JWT_SECRET',
      { JWT_SECRET: 'x'.repeat(31), ENCRYPTION_KEYS: encryptionKeys() },
    ],
    ['ENCRYPTION_KEYS missing', 'ENCRYPTION_KEYS', { JWT_SECRET: jwtSecret() }],
  ])(
    'with NODE_ENV=production and %s exits non-zero before listening, naming the variable',
    (_what, variable, secrets: Record<string, string>) => {
      const dir = tempDir();
      const run = spawnSync(process.execPath, [MAIN], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          HOST: '127.0.0.1',
          PORT: '0',
          DATA_DIR: dir,
          LOG_LEVEL: 'info',
          ...secrets,
        },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.error).toBeUndefined();
      expect(run.status, run.stderr).not.toBe(0);
      expect(run.status).not.toBeNull();
      expect(run.stderr).toContain(variable);
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/listening/i);
      // It stopped before touching the database.
      expect(existsSync(join(dir, 'pgdata'))).toBe(false);
      expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
    },
  );
});
