/**
 * SQL shared by the SQLite and PostgreSQL traces: a recipient's status from its row and its
 * message's, and the LIKE pattern for a query with `*` wildcards.
 */

/** `held` is the backend's test for a held message (`m.held = 1` in SQLite, `m.held` in PostgreSQL). */
export function statusSql(held: string): string {
  return `CASE
  WHEN r.state = 'delivered' THEN 'Delivered'
  WHEN r.state = 'failed' AND r.last_reply LIKE '4.4.7 %' THEN 'Expired'
  WHEN r.state = 'failed' THEN 'Failed'
  WHEN ${held} THEN 'Held'
  WHEN m.throttle_reason IS NOT NULL THEN 'Throttled'
  ELSE 'Pending' END`;
}

/** "*@contoso.com" → "%@contoso.com" for LIKE ... ESCAPE '\', with LIKE's own wildcards taken literally. */
export function likePattern(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\\%_]/g, (c) => `\\${c}`)
    .replace(/\*/g, '%');
}
