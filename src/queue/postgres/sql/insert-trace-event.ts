/** An event the message rows do not already say (throttle, hold, bounce, duplicate). */
export const insertTraceEvent = `
INSERT INTO trace_events (at, message_id, event, detail) VALUES ($1, $2, $3, $4)
`;
