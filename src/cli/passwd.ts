import { createInterface } from 'node:readline';

import { hashPassword, verifyPassword } from '../auth/password.ts';
import { EXIT, HELP_OPTION, parse } from './common.ts';

export const PASSWD_HELP = `Usage: bridgehead passwd [USER]

Prints the scrypt hash of a device password, for the users section of the configuration:

  users:
    scanner01: '$scrypt$ln=15,r=8,p=1$...'

With USER, prints that YAML line. The password is read from the terminal (asked twice,
not echoed) or, when standard input is not a terminal, from its first line.
`;

export async function runPasswd(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...HELP_OPTION });
  if (values.help) {
    process.stdout.write(PASSWD_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) {
    process.stderr.write(PASSWD_HELP);
    return EXIT.usage;
  }
  const user = positionals[0];
  if (user !== undefined && !/^[^\s:'"]{1,256}$/.test(user)) {
    console.error('bridgehead passwd: a user name has no spaces, colons or quotes');
    return EXIT.usage;
  }
  let password: string;
  if (process.stdin.isTTY) {
    password = await askHidden('Password: ');
    if ((await askHidden('Again: ')) !== password) {
      console.error('bridgehead passwd: the passwords differ');
      return EXIT.failed;
    }
  } else password = await firstLine();
  if (password.length === 0) {
    console.error('bridgehead passwd: empty password');
    return EXIT.failed;
  }
  const hash = await hashPassword(password);
  if (!(await verifyPassword(password, hash))) throw new Error('hash does not verify (a bug)');
  console.log(user === undefined ? hash : `${user}: '${hash}'`);
  return EXIT.ok;
}

function firstLine(): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    let done = false;
    rl.once('line', (line) => {
      done = true;
      rl.close();
      resolve(line.replace(/\r$/, ''));
    });
    rl.once('close', () => {
      if (!done) resolve('');
    });
  });
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(prompt);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stderr.write('\n');
          return resolve(value);
        }
        if (ch === '\u0003') process.exit(130);
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
