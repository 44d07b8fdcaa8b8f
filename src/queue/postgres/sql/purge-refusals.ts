/** Refused commands older than $1. */
export const purgeRefusals = `
DELETE FROM refusals WHERE at < $1
`;
