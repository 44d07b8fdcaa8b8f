import { newApiToken } from '../admin/auth.ts';
import { EXIT, HELP_OPTION, parse } from './common.ts';

export const ADMIN_TOKEN_HELP = `Usage: bridgehead admin-token NAME

Makes a new admin API token. Prints the token once (give it to the caller: a Prometheus
scrape job, a script) and the line for the configuration, which keeps only its hash:

  admin:
    tokens:
      prometheus: 'sha256:...'
`;

export async function runAdminToken(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION });
  if (values.help) {
    process.stdout.write(ADMIN_TOKEN_HELP);
    return EXIT.ok;
  }
  const name = positionals[0];
  if (!name || positionals.length > 1 || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    process.stderr.write(ADMIN_TOKEN_HELP);
    return EXIT.usage;
  }
  const { token, hash } = newApiToken();
  console.log(`token: ${token}`);
  console.log(`config: ${name}: '${hash}'`);
  return EXIT.ok;
}
