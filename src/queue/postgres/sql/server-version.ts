/** The server's version as a number (180001 for 18.1). */
export const serverVersion = `
SELECT current_setting('server_version_num') AS v
`;
