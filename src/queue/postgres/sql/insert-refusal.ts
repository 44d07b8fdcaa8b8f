/** A refused SMTP command. */
export const insertRefusal = `
INSERT INTO refusals (at, ip, listener, "user", phase, sender, recipient, reply) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
`;
