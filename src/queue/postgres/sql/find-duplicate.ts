/** The newest message with this dedup key received at or after $2. */
export const findDuplicate = `
SELECT id FROM messages WHERE dedup_key = $1 AND received_at >= $2 ORDER BY received_at DESC LIMIT 1
`;
