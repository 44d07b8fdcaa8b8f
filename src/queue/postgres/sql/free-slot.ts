/** Gives a slot back. */
export const freeSlot = `
DELETE FROM budget_slots WHERE id = $1
`;
