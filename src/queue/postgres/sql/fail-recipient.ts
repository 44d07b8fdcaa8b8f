/** A recipient failed by an operator. */
export const failRecipient = `
UPDATE recipients SET state = 'failed', attempts = attempts + 1, last_reply = $1, updated_at = $2 WHERE id = $3
`;
