// After tsc: copies the non-TypeScript files the build needs (SQL migrations) next to the
// compiled code, and makes the bin executable (tsc writes it 644, and npm only sets the mode
// of bins that exist at install time, which dist/ does not in a fresh clone).
import { chmodSync, cpSync, existsSync } from 'node:fs';

const assets = [
  ['src/queue/sqlite/migrations', 'dist/queue/sqlite/migrations'],
  ['src/queue/postgres/migrations', 'dist/queue/postgres/migrations'],
];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
if (existsSync('dist/cli/main.js')) chmodSync('dist/cli/main.js', 0o755);
