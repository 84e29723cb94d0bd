/**
 * What may go into an audit row or security event. The log is kept for years and read by
 * every admin: a password, token, code or key that slipped into it would outlive any
 * rotation. So metadata loses every key that looks like one, whatever the caller meant.
 */
const SECRET_KEY = /password|token|secret|code|key/i;

const MAX_DEPTH = 4;
const MAX_KEYS = 50;
const MAX_ITEMS = 50;
const MAX_STRING = 1000;

/** Text PostgreSQL accepts: no NUL, no lone UTF-16 surrogates (they are not Unicode). */
export function cleanText(value: string, max: number): string {
  return value
    .slice(0, max)
    .replaceAll('\u0000', '')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export const optionalText = (value: string | null | undefined, max: number): string | null =>
  value === undefined || value === null ? null : cleanText(value, max);

function cleanValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return cleanText(value, MAX_STRING);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value !== 'object') return undefined;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) {
    return value.slice(0, MAX_ITEMS).map((v: unknown) => cleanValue(v, depth + 1) ?? null);
  }
  return cleanObject(value as Record<string, unknown>, depth + 1);
}

function cleanObject(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const [key, v] of Object.entries(value)) {
    if (kept >= MAX_KEYS) break;
    if (SECRET_KEY.test(key) || key === '__proto__' || key === 'constructor') continue;
    const cleaned = cleanValue(v, depth);
    if (cleaned === undefined) continue;
    Object.defineProperty(out, cleanText(key, 100), {
      value: cleaned,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    kept++;
  }
  return out;
}

/** Metadata as a JSON object with secret-looking keys removed, bounded in size and depth. */
export function cleanMetadata(metadata: Record<string, unknown> | undefined): string {
  return JSON.stringify(metadata ? cleanObject(metadata, 0) : {});
}

const NAME = /^[a-z][a-z0-9_.]{0,63}$/;

/** Action and event names are code, not input: a bad one is a bug, caught before the database. */
export function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new TypeError(`${kind} must match ${String(NAME)}: ${name}`);
}
