/** Locks a message held by $2 and reads why it was last throttled. */
export const lockThrottle = `
SELECT throttle_reason FROM messages WHERE id = $1 AND lease_owner = $2 FOR UPDATE
`;
