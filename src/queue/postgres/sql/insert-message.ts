/** A new message, due at once (its recipients and body follow in the same transaction). */
export const insertMessage = `
INSERT INTO messages (id, received_at, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, client_json, route,
  message_id_header, size, state, next_attempt_at, expires_at, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $2, $12, $13)
`;
