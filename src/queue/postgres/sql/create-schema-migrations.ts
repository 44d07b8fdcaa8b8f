/** Where the applied migrations are recorded. */
export const createSchemaMigrations = `
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
`;
