/** Holds one budget key until the transaction ends (the two-number form never meets the migration lock's one-number form). */
export const lockBudgetKey = `
SELECT pg_advisory_xact_lock($1::int, hashtext($2))
`;
