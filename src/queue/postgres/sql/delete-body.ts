/** A done message's bytes are no longer needed (history and envelope stay). */
export const deleteBody = `
DELETE FROM bodies WHERE message_id = $1
`;
