/** A recipient's state after an attempt. */
export const updateRecipient = `
UPDATE recipients SET state = $1, attempts = attempts + 1, last_reply = $2, updated_at = $3
WHERE id = $4 AND message_id = $5
`;
