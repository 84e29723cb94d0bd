/** Finds a PostgreSQL error code through drizzle's wrapping (its `cause` chain). */
function pgError(err: unknown): { code?: string; constraint?: string } | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as {
      code?: unknown;
      constraint?: unknown;
      constraint_name?: unknown;
      cause?: unknown;
    };
    if (typeof o.code === 'string' && /^[0-9A-Z]{5}$/.test(o.code)) {
      const constraint = o.constraint_name ?? o.constraint;
      return { code: o.code, ...(typeof constraint === 'string' ? { constraint } : {}) };
    }
    e = o.cause;
  }
  return undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const pg = pgError(err);
  return pg?.code === '23505' && (constraint === undefined || pg.constraint === constraint);
}
