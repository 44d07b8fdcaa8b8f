/** Locks a message row and reads who holds its lease. */
export const lockLease = `
SELECT lease_owner FROM messages WHERE id = $1 FOR UPDATE
`;
