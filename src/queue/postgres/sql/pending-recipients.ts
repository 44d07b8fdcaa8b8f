/** The recipients of a message still to be delivered. */
export const pendingRecipients = `
SELECT * FROM recipients WHERE message_id = $1 AND state IN ('queued', 'deferred') ORDER BY id
`;
