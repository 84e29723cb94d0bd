import { notFound } from '../security/errors.js';

/** The smallest possible page of a keyset query: fetch limit+1 rows to know if there is more. */
export function toPage<T extends { id: string }>(rows: T[], limit: number) {
  const data = rows.slice(0, limit);
  return { data, nextCursor: rows.length > limit ? data[data.length - 1]!.id : null };
}

/** The row, or 404 `not_found`: another organization's id answers exactly as a missing one. */
export function orNotFound<T>(row: T | null | undefined): T {
  if (row === undefined || row === null) throw notFound();
  return row;
}
