// Copies the non-TypeScript files the build needs (SQL migrations) next to the compiled code.
import { cpSync, existsSync } from 'node:fs';

const assets = [['src/queue/sqlite/migrations', 'dist/queue/sqlite/migrations']];
for (const [from, to] of assets) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
