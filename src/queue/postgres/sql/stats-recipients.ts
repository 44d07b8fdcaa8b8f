/** Recipients by state. */
export const statsRecipients = `
SELECT state, count(*)::int AS n FROM recipients GROUP BY state
`;
