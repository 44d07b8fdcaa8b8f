/** A key's spends in the last minute ($2 is now), its recipients since $3, and a pause in force. */
export const budgetUsage = `
SELECT
  coalesce((SELECT array_agg(at ORDER BY at) FROM budget_spends
            WHERE key = $1 AND at > $2::bigint - 60000 AND at <= $2), '{}') AS minute,
  coalesce((SELECT sum(recipients) FROM budget_spends WHERE key = $1 AND at >= $3 AND at <= $2), 0)::bigint AS recipients,
  (SELECT until FROM budget_pauses WHERE key = $1 AND until > $2) AS paused_until,
  (SELECT reason FROM budget_pauses WHERE key = $1 AND until > $2) AS pause_reason
`;
