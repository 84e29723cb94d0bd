import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/** Variables that hold secrets: each may also be read from `NAME_FILE`. */
const SECRET_VARS = [
  'JWT_SECRET',
  'ENCRYPTION_KEYS',
  'METRICS_TOKEN',
  'DATABASE_URL',
  'DATABASE_MIGRATION_URL',
  'REDIS_URL',
] as const;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes'].includes(v)));

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const origin = (name: string) =>
  z.string().transform((v, ctx) => {
    try {
      const url = new URL(v);
      if (url.origin === 'null') throw new Error('opaque origin');
      return url.origin;
    } catch {
      ctx.addIssue({ code: 'custom', message: `${name} must list absolute http(s) origins` });
      return z.NEVER;
    }
  });

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

function parseEncryptionKeys(value: string): EncryptionKey[] {
  const keys = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const sep = entry.indexOf(':');
      const id = entry.slice(0, sep);
      const key = Buffer.from(entry.slice(sep + 1), 'base64');
      if (sep < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
        throw new ConfigError('ENCRYPTION_KEYS', 'each entry must be id:base64key');
      }
      if (key.length !== 32) {
        throw new ConfigError('ENCRYPTION_KEYS', `key "${id}" must decode to 32 bytes`);
      }
      return { id, key };
    });
  if (keys.length === 0) throw new ConfigError('ENCRYPTION_KEYS', 'at least one key is required');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) {
    throw new ConfigError('ENCRYPTION_KEYS', 'key ids must be unique');
  }
  return keys;
}

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: optionalString,
  DATABASE_MIGRATION_URL: optionalString,
  DATABASE_POOL_SIZE: int(20, 1),
  REDIS_URL: optionalString,
  JWT_SECRET: optionalString,
  ENCRYPTION_KEYS: optionalString,
  ALLOWED_ORIGINS: list.pipe(z.array(origin('ALLOWED_ORIGINS'))),
  PUBLIC_URL: optionalString.pipe(origin('PUBLIC_URL').optional()),
  TRUST_PROXY: optionalString,
  COOKIE_SECURE: bool(true),
  REGISTRATION_MODE: z.enum(['open', 'closed']).default('open'),
  METRICS_TOKEN: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WHATSAPP_GRAPH_URL: z.url().default('https://graph.facebook.com'),
  WHATSAPP_API_VERSION: z
    .string()
    .regex(/^v[0-9]{1,3}\.[0-9]{1,3}$/, 'must look like v23.0')
    .default('v23.0'),
  WHATSAPP_SEND_ATTEMPTS: int(8, 1),
  WHATSAPP_RETRY_BASE_MS: int(2000, 1),
  UPLOAD_DIR: optionalString,
  UPLOAD_MAX_BYTES: int(10 * 1024 * 1024, 1),
  RATE_LIMIT_MAX: int(1000, 1),
  RATE_LIMIT_WINDOW_MS: int(900_000, 1000),
  RATE_LIMIT_AUTH_IP_MAX: int(100, 1),
  RATE_LIMIT_LOGIN_FAILURES: int(5, 1),
  RATE_LIMIT_SEND_MAX: int(60, 1),
  RATE_LIMIT_UPLOAD_MAX: int(20, 1),
  SESSION_IDLE_TTL_SECONDS: int(7 * 24 * 3600, 60),
  SESSION_ABSOLUTE_TTL_SECONDS: int(30 * 24 * 3600, 60),
});

/** What the schema does not decide alone: secrets possibly generated, the resolved paths. */
interface Resolved {
  dataDir: string;
  jwtSecret: string;
  encryptionKeys: string;
  warnings: string[];
}

/** The configuration the process runs with; its type (Config) is derived from here. */
function toConfig(e: z.output<typeof envSchema>, resolved: Resolved) {
  const hostForUrl = e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST;
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    dataDir: resolved.dataDir,
    databaseUrl: e.DATABASE_URL,
    databaseMigrationUrl: e.DATABASE_MIGRATION_URL ?? e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    jwtSecret: resolved.jwtSecret,
    encryptionKeys: parseEncryptionKeys(resolved.encryptionKeys),
    allowedOrigins: e.ALLOWED_ORIGINS,
    publicUrl: e.PUBLIC_URL ?? `http://${hostForUrl}:${e.PORT}`,
    trustProxy: e.TRUST_PROXY,
    cookieSecure: e.COOKIE_SECURE,
    registrationMode: e.REGISTRATION_MODE,
    metricsToken: e.METRICS_TOKEN,
    logLevel: e.LOG_LEVEL,
    whatsappGraphUrl: e.WHATSAPP_GRAPH_URL.replace(/\/+$/, ''),
    /** Graph API version in the send URL, e.g. v23.0. */
    whatsappApiVersion: e.WHATSAPP_API_VERSION,
    /** Attempts per outbound message before it is marked failed (429, 5xx, network errors). */
    whatsappSendAttempts: e.WHATSAPP_SEND_ATTEMPTS,
    /** First retry delay; doubled per attempt, with jitter. */
    whatsappRetryBaseMs: e.WHATSAPP_RETRY_BASE_MS,
    uploadDir: resolve(e.UPLOAD_DIR ?? join(resolved.dataDir, 'uploads')),
    uploadMaxBytes: e.UPLOAD_MAX_BYTES,
    rateLimit: {
      max: e.RATE_LIMIT_MAX,
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      authIpMax: e.RATE_LIMIT_AUTH_IP_MAX,
      loginFailures: e.RATE_LIMIT_LOGIN_FAILURES,
      sendMax: e.RATE_LIMIT_SEND_MAX,
      uploadMax: e.RATE_LIMIT_UPLOAD_MAX,
    },
    session: {
      idleTtlSeconds: e.SESSION_IDLE_TTL_SECONDS,
      absoluteTtlSeconds: e.SESSION_ABSOLUTE_TTL_SECONDS,
    },
    /** Things worth a warning once the logger exists (config is read before it). */
    warnings: resolved.warnings,
  };
}

export type Config = ReturnType<typeof toConfig>;

type Env = Record<string, string | undefined>;

/** Resolves `NAME_FILE` into `NAME` for every secret; setting both is ambiguous and refused. */
function readSecretFiles(env: Env): Env {
  const out = { ...env };
  for (const name of SECRET_VARS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) throw new ConfigError(name, `set either ${name} or ${name}_FILE, not both`);
    try {
      out[name] = readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${name}_FILE`, `cannot read ${file}`);
    }
  }
  return out;
}

interface GeneratedSecrets {
  JWT_SECRET?: string;
  ENCRYPTION_KEYS?: string;
}

/** Development convenience: secrets made once and kept beside the data, never in code. */
function loadOrCreateDevSecrets(dataDir: string, missing: (keyof GeneratedSecrets)[]) {
  const file = join(dataDir, 'secrets.json');
  let stored: GeneratedSecrets = {};
  if (existsSync(file)) {
    stored = JSON.parse(readFileSync(file, 'utf8')) as GeneratedSecrets;
  }
  let changed = false;
  for (const name of missing) {
    if (stored[name]) continue;
    stored[name] =
      name === 'JWT_SECRET'
        ? randomBytes(48).toString('base64url')
        : `k1:${randomBytes(32).toString('base64')}`;
    changed = true;
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return { file, stored };
}

export function loadConfig(rawEnv: Env = process.env): Config {
  const env = readSecretFiles(rawEnv);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? 'environment'), issue?.message ?? 'invalid');
  }
  const e = parsed.data;
  if (e.DATABASE_MIGRATION_URL && !e.DATABASE_URL) {
    // Migrating PostgreSQL while the server would use the embedded database (or the other
    // way round) leaves one of them empty: say what is missing instead of guessing.
    throw new ConfigError(
      'DATABASE_URL',
      'DATABASE_MIGRATION_URL is set but DATABASE_URL is not: set DATABASE_URL too (the server login role on the same PostgreSQL database), or unset DATABASE_MIGRATION_URL to use the embedded database',
    );
  }
  const warnings: string[] = [];
  const dataDir = resolve(e.DATA_DIR);

  if (e.JWT_SECRET !== undefined && Buffer.byteLength(e.JWT_SECRET, 'utf8') < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes');
  }
  const missing = (['JWT_SECRET', 'ENCRYPTION_KEYS'] as const).filter((n) => e[n] === undefined);
  let jwtSecret = e.JWT_SECRET;
  let encryptionKeys = e.ENCRYPTION_KEYS;
  if (missing.length > 0) {
    if (e.NODE_ENV === 'production') {
      throw new ConfigError(missing[0]!, 'is required when NODE_ENV=production');
    }
    const { file, stored } = loadOrCreateDevSecrets(dataDir, [...missing]);
    jwtSecret ??= stored.JWT_SECRET;
    encryptionKeys ??= stored.ENCRYPTION_KEYS;
    warnings.push(
      `${missing.join(' and ')} not set: using generated development secrets in ${file}`,
    );
  }

  if (e.PORT === 0 && e.PUBLIC_URL === undefined) {
    warnings.push('PORT=0 without PUBLIC_URL: the server origin is only known after listening');
  }
  return toConfig(e, { dataDir, jwtSecret: jwtSecret!, encryptionKeys: encryptionKeys!, warnings });
}
