/** Leases up to $4 due, unheld, unleased messages (of the routes $5, or all when null) to $1 until $2; SKIP LOCKED lets nodes claim side by side. */
export const claimDue = `
UPDATE messages SET lease_owner = $1, lease_until = $2
WHERE id IN (SELECT id FROM messages
             WHERE state = 'active' AND NOT held AND next_attempt_at <= $3
               AND (lease_until IS NULL OR lease_until < $3)
               AND ($5::text[] IS NULL OR route = ANY($5::text[]))
             ORDER BY next_attempt_at, received_at LIMIT $4
             FOR UPDATE SKIP LOCKED)
RETURNING *
`;
