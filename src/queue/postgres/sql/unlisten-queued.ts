/** Ends the subscription of this connection. */
export const unlistenQueued = `
UNLISTEN bridgehead_queued
`;
