/** Puts a message back without an attempt until its mailbox has budget again. */
export const throttleMessage = `
UPDATE messages SET next_attempt_at = $1, throttle_reason = $2, mailbox = $3, lease_owner = NULL, lease_until = NULL
WHERE id = $4
`;
