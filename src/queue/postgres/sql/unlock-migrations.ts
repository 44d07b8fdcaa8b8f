/** Lets the next node look at the schema. */
export const unlockMigrations = `
SELECT pg_advisory_unlock(727274)
`;
