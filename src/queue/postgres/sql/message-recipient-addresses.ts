/** The recipients of one message, for its trace. */
export const messageRecipientAddresses = `
SELECT id, address FROM recipients WHERE message_id = $1
`;
