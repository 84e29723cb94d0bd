import { AppError } from '../security/errors.js';

/** Finds a PostgreSQL error through drizzle's wrapping (its `cause` chain). */
export function pgError(
  err: unknown,
): { code?: string; constraint?: string; message?: string } | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as {
      code?: unknown;
      constraint?: unknown;
      constraint_name?: unknown;
      cause?: unknown;
    };
    if (typeof o.code === 'string' && /^[0-9A-Z]{5}$/.test(o.code)) {
      const constraint = o.constraint_name ?? o.constraint;
      const message = (o as { message?: unknown }).message;
      return {
        code: o.code,
        ...(typeof constraint === 'string' ? { constraint } : {}),
        ...(typeof message === 'string' ? { message } : {}),
      };
    }
    e = o.cause;
  }
  return undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const pg = pgError(err);
  return pg?.code === '23505' && (constraint === undefined || pg.constraint === constraint);
}

/** insufficient_privilege: e.g. a login that may not SET ROLE bastion_app. */
export const isPermissionDenied = (err: unknown): boolean => pgError(err)?.code === '42501';

/**
 * True for an error that says something about the data or the code (a constraint, a bad
 * value, a bug), as opposed to the database being unreachable, busy or restarting (classes
 * 08, 40, 53, 57, 58, or no PostgreSQL code at all from a dropped connection): retrying
 * the latter later can succeed, retrying the former cannot.
 */
export function isPermanentFailure(err: unknown): boolean {
  const pg = pgError(err);
  if (!pg?.code)
    return !(err instanceof Error && /connect|connection|timeout|terminat/i.test(err.message));
  return !['08', '40', '53', '57', '58'].includes(pg.code.slice(0, 2));
}

/**
 * Awaits a write; a duplicate on `constraint` becomes 409 `conflict` with `detail`, and
 * anything else propagates. The database decides uniqueness (no check-then-insert race).
 */
export async function conflictOnDuplicate<T>(
  write: Promise<T>,
  constraint: string,
  detail: string,
): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (isUniqueViolation(err, constraint)) throw new AppError('conflict', detail);
    throw err;
  }
}

/**
 * A message for the connection failures a user can fix, naming the fix; null for others.
 * A database that does not exist (3D000) is never created behind the user's back: a typo
 * in the URL would otherwise become a second, empty deployment.
 */
export function explainDatabaseError(err: unknown): string | null {
  const pg = pgError(err);
  if (pg?.code !== '3D000') return null;
  const name = /database "([^"]+)" does not exist/.exec(String((err as Error).message))?.[1];
  const db = name ?? 'the database named in DATABASE_URL';
  const ident = name && /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${db}"`;
  return `database "${db}" does not exist: create it first (\`createdb ${ident}\`, or \`CREATE DATABASE ${ident};\` in psql), then run \`bastion migrate\`, or correct DATABASE_URL / DATABASE_MIGRATION_URL`;
}
