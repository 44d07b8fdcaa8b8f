/** Messages by state. */
export const statsStates = `
SELECT state, count(*)::int AS n FROM messages GROUP BY state
`;
