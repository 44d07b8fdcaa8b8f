/** Wakes every node listening on bridgehead_queued when the enqueue transaction commits (payload: the route). */
export const notifyQueued = `
SELECT pg_notify('bridgehead_queued', $1)
`;
