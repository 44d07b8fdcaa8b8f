/** One recipient's result of one attempt. */
export const insertAttempt = `
INSERT INTO attempts (message_id, recipient_id, started_at, duration_ms, transport, upstream, outcome, reply, category)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
`;
