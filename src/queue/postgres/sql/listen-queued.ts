/** Subscribes this connection to bridgehead_queued. */
export const listenQueued = `
LISTEN bridgehead_queued
`;
