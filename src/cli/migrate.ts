import { openStore } from '../queue/open.ts';
import { CONFIG_OPTION, configPath, EXIT, HELP_OPTION, loadOrReport, parse } from './common.ts';

export const MIGRATE_HELP = `Usage: bridgehead migrate [-c FILE]

Brings the queue database (SQLite or PostgreSQL, as the configuration says) to this version's
schema and exits. The relay does the same at start; run it on its own before rolling a new
version over several nodes. Exit 0 when done, 1 when the database cannot be reached or is
newer than this Bridgehead.
`;

export async function runMigrate(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CONFIG_OPTION, ...HELP_OPTION }, false);
  if (values.help) {
    process.stdout.write(MIGRATE_HELP);
    return EXIT.ok;
  }
  const config = loadOrReport(configPath(values.config));
  if (!config) return EXIT.config;
  const store = await openStore(config);
  await store.close();
  console.log(`queue database (${config.store.kind}) is at this version's schema`);
  return EXIT.ok;
}
