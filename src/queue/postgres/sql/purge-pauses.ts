/** Pauses that have ended. */
export const purgePauses = `
DELETE FROM budget_pauses WHERE until <= $1
`;
