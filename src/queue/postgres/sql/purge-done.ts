/** Done messages finished before $1 (their recipients and history go with them). */
export const purgeDone = `
DELETE FROM messages WHERE state = 'done' AND finished_at < $1
`;
