/** One message row. */
export const getMessage = `
SELECT * FROM messages WHERE id = $1
`;
