// Runs a private Postfix instance (its own config and queue under a temp dir) for the
// side-by-side comparison, as the shared reference benchmark does.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startProcess } from './procs.ts';

const MASTER = '/usr/lib/postfix/sbin/master';
const HERE = fileURLToPath(new URL('.', import.meta.url));

export function postfixAvailable(): boolean {
  return existsSync(MASTER) && existsSync('/usr/sbin/postconf') && process.getuid?.() === 0;
}

/** Writes the instance config and starts `master -d` in the foreground; the caller owns the PID. */
export function startPostfix(dir: string, port: number, sinkPort: number): ChildProcess {
  // mkdtemp makes 0700 directories; Postfix's daemons run as the postfix user and must enter it.
  chmodSync(dir, 0o755);
  const etc = join(dir, 'etc');
  mkdirSync(etc, { recursive: true });
  copyFileSync(join(HERE, 'postfix', 'main.cf'), join(etc, 'main.cf'));
  copyFileSync(join(HERE, 'postfix', 'master.cf'), join(etc, 'master.cf'));
  execFileSync('postconf', [
    '-c',
    etc,
    '-e',
    `queue_directory = ${join(dir, 'spool')}`,
    `data_directory = ${join(dir, 'data')}`,
    `maillog_file = ${join(dir, 'postfix.log')}`,
    `relayhost = [127.0.0.1]:${sinkPort}`,
  ]);
  if (port !== 2525) {
    // Move the listener off the shipped 127.0.0.1:2525 so a relay on that port is not disturbed.
    execFileSync('postconf', ['-c', etc, '-MX', '127.0.0.1:2525/inet']);
    execFileSync('postconf', [
      '-c',
      etc,
      '-Me',
      `127.0.0.1:${port}/inet = 127.0.0.1:${port} inet n - n - - smtpd`,
    ]);
  }
  for (const sub of ['data', 'spool']) mkdirSync(join(dir, sub), { recursive: true });
  execFileSync('chown', ['postfix', join(dir, 'data')]);
  execFileSync('postfix', ['-c', etc, 'check'], { stdio: 'ignore' });
  return startProcess(MASTER, ['-c', etc, '-d']);
}
