/** Deletes a message; recipients, body and history go with it (ON DELETE CASCADE). */
export const deleteMessage = `
DELETE FROM messages WHERE id = $1
`;
