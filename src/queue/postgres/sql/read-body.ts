/** The bytes of one message. */
export const readBody = `
SELECT data FROM bodies WHERE message_id = $1
`;
