/** The bytes of a new message, kept until every recipient is done. */
export const insertBody = `
INSERT INTO bodies (message_id, data) VALUES ($1, $2)
`;
