/** A migration applied, in the same transaction as its SQL. */
export const recordMigration = `
INSERT INTO schema_migrations (version) VALUES ($1)
`;
