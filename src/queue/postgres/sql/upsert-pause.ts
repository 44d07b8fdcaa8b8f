/** Stops a key until $2; a later end wins, an earlier one leaves it alone. */
export const upsertPause = `
INSERT INTO budget_pauses (key, until, reason) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason
WHERE budget_pauses.until < EXCLUDED.until
`;
