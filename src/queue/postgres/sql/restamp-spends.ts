/** Moves counted messages to when they actually left (never earlier). */
export const restampSpends = `
UPDATE budget_spends SET at = $2 WHERE id = ANY($1::bigint[]) AND at < $2
`;
