/** One message counted against a key. */
export const insertSpend = `
INSERT INTO budget_spends (key, at, recipients) VALUES ($1, $2, $3) RETURNING id
`;
