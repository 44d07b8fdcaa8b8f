/** Renews a slot's lease. */
export const extendSlot = `
UPDATE budget_slots SET until = $2 WHERE id = $1
`;
