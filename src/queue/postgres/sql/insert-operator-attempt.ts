/** An operator's "bounce now" for one recipient, kept in the history. */
export const insertOperatorAttempt = `
INSERT INTO attempts (message_id, recipient_id, started_at, duration_ms, transport, upstream, outcome, reply, category)
VALUES ($1, $2, $3, 0, 'operator', NULL, 'failed', $4, 'operator')
`;
