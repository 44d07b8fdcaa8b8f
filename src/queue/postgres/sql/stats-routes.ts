/** Active messages and the oldest by route. */
export const statsRoutes = `
SELECT route, count(*)::int AS n, min(received_at) AS oldest FROM messages WHERE state = 'active' GROUP BY route
`;
