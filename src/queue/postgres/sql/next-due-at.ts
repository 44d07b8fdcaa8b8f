/** The earliest next attempt among active, unheld messages. */
export const nextDueAt = `
SELECT min(next_attempt_at) AS t FROM messages WHERE state = 'active' AND NOT held
`;
