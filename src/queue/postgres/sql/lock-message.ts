/** Locks a message and reads whether it is active and leased. */
export const lockMessage = `
SELECT state, lease_until FROM messages WHERE id = $1 FOR UPDATE
`;
