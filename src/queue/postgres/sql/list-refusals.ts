/** Refused commands newest first; the address ($1) and start ($2) filters apply when not null. */
export const listRefusals = `
SELECT at, ip, listener, "user", phase, sender, recipient, reply FROM refusals
WHERE ($1::text IS NULL OR ip = $1::text) AND ($2::bigint IS NULL OR at >= $2::bigint)
ORDER BY at DESC, id DESC
LIMIT $3 OFFSET $4
`;
