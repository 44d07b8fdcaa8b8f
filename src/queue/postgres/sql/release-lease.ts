/** Gives a claimed message back untouched. */
export const releaseLease = `
UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2
`;
