/** The recipients of a new message, from three parallel arrays (address, NOTIFY, ORCPT). */
export const insertRecipients = `
INSERT INTO recipients (message_id, address, notify, orcpt, state, updated_at)
SELECT $1, a, n, o, 'queued', $2 FROM unnest($3::text[], $4::text[], $5::text[]) AS t(a, n, o)
`;
