/** Ends the slots of a key whose lease ran out (their holder died). */
export const expireSlots = `
DELETE FROM budget_slots WHERE key = $1 AND until <= $2
`;
