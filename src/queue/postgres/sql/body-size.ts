/** The stored size of a message's bytes, to read a big one in slices. */
export const bodySize = `
SELECT octet_length(data) AS n FROM bodies WHERE message_id = $1
`;
