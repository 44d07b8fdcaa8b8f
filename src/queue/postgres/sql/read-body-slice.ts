/** $3 bytes of a message's body from offset $2 (1-based, as substring counts). */
export const readBodySlice = `
SELECT substring(data FROM $2::int FOR $3::int) AS data FROM bodies WHERE message_id = $1
`;
