/** Makes an active message due at $1. */
export const retryNow = `
UPDATE messages SET next_attempt_at = $1 WHERE id = $2 AND state = 'active'
`;
