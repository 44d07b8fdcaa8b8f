/** Every recipient delivered or failed: the message is done. */
export const finishMessage = `
UPDATE messages SET state = 'done', attempts = attempts + 1, last_reply = $1, lease_owner = NULL, lease_until = NULL,
  finished_at = $2, throttle_reason = NULL, held = false
WHERE id = $3
`;
