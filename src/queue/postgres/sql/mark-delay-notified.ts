/** Marks that a delay notice went out; no row when one already had. */
export const markDelayNotified = `
UPDATE messages SET delay_notified = true WHERE id = $1 AND NOT delay_notified
`;
