/** Takes a slot of key $1 until $2 if fewer than $3 are held; no row when all are. */
export const takeSlot = `
INSERT INTO budget_slots (key, until)
SELECT $1, $2 WHERE (SELECT count(*) FROM budget_slots WHERE key = $1) < $3
RETURNING id
`;
