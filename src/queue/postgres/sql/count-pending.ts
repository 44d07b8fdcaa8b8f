/** How many recipients of a message are still to be delivered. */
export const countPending = `
SELECT count(*)::int AS n FROM recipients WHERE message_id = $1 AND state IN ('queued', 'deferred')
`;
