/** Active and throttled messages by sending mailbox. */
export const statsMailboxes = `
SELECT mailbox, count(*)::int AS n, count(throttle_reason)::int AS throttled, min(received_at) AS oldest
FROM messages WHERE state = 'active' AND mailbox IS NOT NULL GROUP BY mailbox
`;
