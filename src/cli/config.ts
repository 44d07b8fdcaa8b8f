import YAML from 'yaml';

import { redactConfig } from '../config/load.ts';
import { CONFIG_OPTION, configPath, EXIT, HELP_OPTION, loadOrReport, parse } from './common.ts';

export const CONFIG_HELP = `Usage: bridgehead config check|print [-c FILE] [--json]

  check   validate the configuration; exit 0 if valid, 78 with every problem listed if not
  print   show the effective configuration (defaults, file, BRIDGEHEAD_* env), secrets redacted

Options:
  -c, --config FILE   configuration file (default: $BRIDGEHEAD_CONFIG, ./bridgehead.yaml, embedded defaults)
  --json              print as JSON instead of YAML
`;

export async function runConfig(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...CONFIG_OPTION,
    ...HELP_OPTION,
    json: { type: 'boolean' },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    process.stdout.write(CONFIG_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (sub !== 'check' && sub !== 'print') {
    console.error(`unknown config command "${sub}"\n`);
    process.stderr.write(CONFIG_HELP);
    return EXIT.usage;
  }
  const file = configPath(values.config);
  const config = loadOrReport(file);
  if (!config) return EXIT.config;
  if (sub === 'check') {
    console.log(`configuration ${file ?? '(embedded defaults)'} is valid`);
    return EXIT.ok;
  }
  const shown = redactConfig(config);
  process.stdout.write(values.json ? `${JSON.stringify(shown, null, 2)}\n` : YAML.stringify(shown));
  return EXIT.ok;
}
