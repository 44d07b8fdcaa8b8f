#!/usr/bin/env node
import { readFileSync } from 'node:fs';

import { runAdminToken } from './admin-token.ts';
import { EXIT, UsageError } from './common.ts';
import { runConfig } from './config.ts';
import { runMigrate } from './migrate.ts';
import { runPasswd } from './passwd.ts';
import { runQueue } from './queue.ts';
import { runSendTest } from './send-test.ts';
import { runStart } from './start.ts';
import { runTrace } from './trace.ts';

const HELP = `Usage: bridgehead <command> [options]

Commands:
  start       run the relay (default configuration: 127.0.0.1:2525, spool in ./data)
  queue       list, show, hold, release, retry, bounce, delete queued messages; statistics
  trace       the message trace: per recipient, per message, and refusals
  send-test   send a test message through a relay
  config      check or print the configuration
  migrate     bring the queue database to this version's schema
  passwd      print the hash of a device password for the users section
  admin-token make an admin API token (prints it once, and its hash for the config)
  sandbox     run the offline Microsoft 365 sandbox alone, or list what arrived in it

Run "bridgehead <command> --help" for a command's options.
Exit codes: 0 ok, 1 the operation failed, 2 bad usage, 78 invalid configuration.
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  start: runStart,
  queue: runQueue,
  trace: runTrace,
  'send-test': runSendTest,
  config: runConfig,
  migrate: runMigrate,
  passwd: runPasswd,
  'admin-token': runAdminToken,
  sandbox: async (argv) => (await import('../sandbox/cli.ts')).runSandboxCommand(argv),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-v') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    console.log(pkg.version);
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`bridgehead: unknown command "${name}"\n`);
    process.stderr.write(HELP);
    return EXIT.usage;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bridgehead ${name}: ${err.message} (see "bridgehead ${name} --help")`);
      return EXIT.usage;
    }
    console.error(`bridgehead ${name}: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Commands close what they open; an explicit exit guards against a stray handle keeping a CLI alive.
    if (process.argv[2] !== 'start' && process.argv[2] !== 'sandbox') setImmediate(() => process.exit(code));
    else process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(EXIT.failed);
  },
);
