/** The attempt history of one message, oldest first. */
export const messageAttempts = `
SELECT * FROM attempts WHERE message_id = $1 ORDER BY id
`;
