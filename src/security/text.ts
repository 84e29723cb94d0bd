import type { FastifyInstance } from 'fastify';
import { validationFailed, type FieldError } from './errors.js';

/**
 * CONTRACT section 2: a NUL character in any text is `validation_failed`. PostgreSQL text
 * cannot hold U+0000, so one in any field became a 500 halfway through a request (a probe
 * that tells an attacker which fields reach the database). A lone UTF-16 surrogate is not
 * Unicode text either: the driver would store U+FFFD in its place, a value other than the
 * one the client sent. One rule, for every route: body strings and keys at any depth,
 * query values and path parameters. Raw bodies (the webhooks' signed bytes, a Buffer)
 * are not text and are not looked at.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Enough to name the fields at fault without a hostile body making a huge answer. */
const MAX_ERRORS = 20;

function flaw(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain a NUL character';
  if (LONE_SURROGATE.test(s)) return 'must be valid Unicode text (a lone surrogate)';
  return null;
}

/** A path step; the chain is walked back only to name a field that is at fault. */
interface Step {
  parent: Step | null;
  key: string;
}

const pathOf = (step: Step): string => {
  const keys: string[] = [];
  for (let s: Step | null = step; s; s = s.parent) keys.push(s.key);
  // The key itself may hold the NUL: name it visibly.
  return keys.reverse().join('.').replaceAll('\u0000', '\\u0000');
};

/** Iterative, so a deeply nested body cannot overflow the stack. */
export function textFlaws(value: unknown, root: string): FieldError[] {
  const errors: FieldError[] = [];
  const pending: [unknown, Step][] = [[value, { parent: null, key: root }]];
  while (pending.length > 0 && errors.length < MAX_ERRORS) {
    const [v, step] = pending.pop()!;
    if (typeof v === 'string') {
      const message = flaw(v);
      if (message) errors.push({ path: pathOf(step), message });
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => pending.push([item, { parent: step, key: String(i) }]));
    } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
      for (const [key, item] of Object.entries(v)) {
        const at = { parent: step, key };
        const message = flaw(key);
        if (message) errors.push({ path: pathOf(at), message: `key ${message}` });
        pending.push([item, at]);
      }
    }
  }
  return errors.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Before any route's own validation, so no handler ever sees such a string. */
export function registerTextRule(app: FastifyInstance): void {
  app.addHook('preValidation', (request, _reply, done) => {
    const errors = [
      ...textFlaws(request.params, 'params'),
      ...textFlaws(request.query, 'query'),
      ...textFlaws(request.body, 'body'),
    ].slice(0, MAX_ERRORS);
    done(errors.length > 0 ? validationFailed(errors) : undefined);
  });
}
