/** Held while migrating, so two nodes starting together apply each migration once. */
export const lockMigrations = `
SELECT pg_advisory_lock(727274)
`;
