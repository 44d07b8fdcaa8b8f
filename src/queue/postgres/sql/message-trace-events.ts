/** The recorded events of one message, oldest first. */
export const messageTraceEvents = `
SELECT * FROM trace_events WHERE message_id = $1 ORDER BY id
`;
