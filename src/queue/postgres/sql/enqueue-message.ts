/** A new message, its body and recipients (three parallel arrays: address, NOTIFY, ORCPT), due at once, in one statement: one round trip, atomic, and the NOTIFY that wakes every node (payload: the route) goes out when it commits. */
export const enqueueMessage = `
WITH m AS (
  INSERT INTO messages (id, received_at, mail_from, dsn_ret, dsn_envid, smtputf8, body_type, client_json, route,
    message_id_header, size, state, next_attempt_at, expires_at, dedup_key)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $2, $12, $13)
  RETURNING id
), b AS (
  INSERT INTO bodies (message_id, data) SELECT id, $14::bytea FROM m
), r AS (
  INSERT INTO recipients (message_id, address, notify, orcpt, state, updated_at)
  SELECT m.id, t.a, t.n, t.o, 'queued', $2 FROM m, unnest($15::text[], $16::text[], $17::text[]) WITH ORDINALITY AS t(a, n, o, i)
  ORDER BY t.i
)
SELECT pg_notify('bridgehead_queued', $9) FROM m
`;
