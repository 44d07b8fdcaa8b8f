/** The newest migration applied. */
export const schemaVersion = `
SELECT max(version) AS v FROM schema_migrations
`;
