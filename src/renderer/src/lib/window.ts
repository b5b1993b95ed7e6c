/**
 * A bounded window of rows read page by page (the audit viewer, the directory tables): `page` appended to
 * `rows`, only the last `limit` kept; `dropped` is how many were let go of at the top, which the caller
 * adds to its offset.
 */
export function appendWithin<T>(rows: readonly T[], page: readonly T[], limit: number): { rows: T[]; dropped: number } {
  const next = rows.concat(page)
  const dropped = Math.max(0, next.length - limit)
  return { rows: dropped ? next.slice(dropped) : next, dropped }
}
