// Writes docs/openapi.json from the admin API's route table (npm run docs:api).
import { readFileSync, writeFileSync } from 'node:fs';

import { openApiDocument } from '../src/admin/openapi.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
writeFileSync('docs/openapi.json', `${JSON.stringify(openApiDocument(pkg.version), null, 2)}\n`);
console.log('docs/openapi.json updated');
