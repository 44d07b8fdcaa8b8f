/** Messages newest first; each filter ($1 to $6) applies when not null; $4 is a LIKE pattern for a recipient address. */
export const listMessages = `
SELECT * FROM messages
WHERE ($1::text IS NULL OR state = $1::text)
  AND ($2::text IS NULL OR route = $2::text)
  AND ($3::text IS NULL OR lower(mail_from) = lower($3::text))
  AND ($4::text IS NULL OR id IN (SELECT message_id FROM recipients WHERE lower(address) LIKE $4::text ESCAPE '\\'))
  AND ($5::boolean IS NULL OR held = $5::boolean)
  AND ($6::boolean IS NULL OR (throttle_reason IS NOT NULL) = $6::boolean)
ORDER BY received_at DESC, id DESC
LIMIT $7 OFFSET $8
`;
