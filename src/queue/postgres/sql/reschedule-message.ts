/** After an attempt that left recipients pending: the next attempt, the lease released. */
export const rescheduleMessage = `
UPDATE messages SET attempts = attempts + 1, last_reply = $1, next_attempt_at = $2, lease_owner = NULL,
  lease_until = NULL, throttle_reason = NULL, mailbox = coalesce($3, mailbox)
WHERE id = $4
`;
