/** Releases every lease (a single node restarting; never with several nodes). */
export const recoverLeases = `
UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL
`;
