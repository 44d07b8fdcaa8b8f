/** Events older than $1 of messages already purged. */
export const purgeTraceEvents = `
DELETE FROM trace_events WHERE at < $1 AND message_id NOT IN (SELECT id FROM messages)
`;
