/** Active messages an operator holds. */
export const statsHeld = `
SELECT count(*)::int AS n FROM messages WHERE state = 'active' AND held
`;
