/** Spends older than the longest window. */
export const purgeSpends = `
DELETE FROM budget_spends WHERE at <= $1
`;
