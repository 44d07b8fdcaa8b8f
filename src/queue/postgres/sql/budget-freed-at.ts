/** Walks a key's spends of the last $3 ms oldest first with a running total: the first whose leaving makes room for $5 more under $4. */
export const budgetFreedAt = `
WITH w AS (
  SELECT at, sum(recipients) OVER (ORDER BY at ROWS UNBOUNDED PRECEDING) AS gone, sum(recipients) OVER () AS total
  FROM budget_spends WHERE key = $1 AND at > $2::bigint - $3::bigint AND at <= $2)
SELECT min(total) AS total, min(at) FILTER (WHERE total - gone + $5 <= $4) AS at FROM w
`;
