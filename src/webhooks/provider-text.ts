import { parseStrictJson } from '../security/json-body.js';

/**
 * A NUL (PostgreSQL's text refuses it) or a lone UTF-16 surrogate (no UTF-8 encoding, so
 * jsonb refuses it) anywhere in a provider's payload. The regular expression runs without
 * the `u` flag, so it sees surrogate halves one by one.
 */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const storable = (s: string) => s.replace(UNSTORABLE, '\uFFFD');

/**
 * Every string of the payload, keys included, made storable in place, iteratively (a
 * deeply nested payload must not exhaust the stack).
 */
function makeStorable(root: unknown): unknown {
  if (typeof root === 'string') return storable(root);
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const value = record[key];
      const fixed = typeof value === 'string' ? storable(value) : value;
      const fixedKey = storable(key);
      if (fixedKey !== key) delete record[key];
      if (fixedKey !== key || fixed !== value) {
        // defineProperty, not assignment: a key must never reach a setter (`__proto__`).
        Object.defineProperty(record, fixedKey, {
          value: fixed,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      if (typeof fixed === 'object' && fixed !== null) stack.push(fixed);
    }
  }
  return root;
}

/**
 * The one way a webhook payload becomes data: parsed strictly (parseStrictJson), then every
 * unstorable character replaced by U+FFFD. The payload is signed by the provider, so it is
 * never refused for its text: one customer's odd name must not cost a delivery of other
 * customers' messages, retried until the provider gives up.
 */
export function parseProviderJson(body: Buffer): unknown {
  return makeStorable(parseStrictJson(body));
}

/** At most `max` characters, never cutting a surrogate pair in half (that half is unstorable). */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * A provider-given name or address as one printable line: control characters can hide or
 * forge content in agents' screens and in logs. Null when nothing printable is left.
 */
export function printable(s: string | null | undefined, max = 200): string | null {
  const line = (s ?? '')
    .replace(/\p{Cc}/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return line ? clip(line, max) : null;
}
