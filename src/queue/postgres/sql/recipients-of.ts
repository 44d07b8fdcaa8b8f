/** The recipients of several messages. */
export const recipientsOf = `
SELECT * FROM recipients WHERE message_id = ANY($1::text[]) ORDER BY id
`;
