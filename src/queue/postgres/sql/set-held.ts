/** Holds or releases an active message. */
export const setHeld = `
UPDATE messages SET held = $1 WHERE id = $2 AND state = 'active'
`;
