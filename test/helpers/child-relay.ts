import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import YAML from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

export interface ChildRelay {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
}

/** Writes a YAML config into dir and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'bridgehead.yaml');
  // Tests run side by side: the admin API takes a free port unless the test names one.
  writeFileSync(file, YAML.stringify({ admin: { port: 0 }, ...config }));
  return file;
}

/**
 * Runs `bridgehead start -c FILE` as a real child process and resolves once it listens.
 * The listening port is read from the smtp:listening log line (the config uses port 0).
 * A watchdog kills the child after `maxLifeMs` so a test can never leave it behind.
 */
export function startChildRelay(configFile: string, maxLifeMs = 120_000): Promise<ChildRelay> {
  // `node --import tsx` keeps the relay in this one process, so a SIGKILL hits the relay itself
  // (the tsx launcher would put it in a grandchild).
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '-c', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: ROOT,
    env: { ...process.env },
  });
  let out = '';
  const watchdog = setTimeout(() => child.kill('SIGKILL'), maxLifeMs);
  watchdog.unref();
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve(code ?? signal ?? -1);
    }),
  );
  return new Promise((resolve, reject) => {
    const startTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay did not start within 30 s:\n${out}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"smtp:listening"/.test(out)
        ? /"port":(\d+)[^\n]*"msg":"smtp:listening"/.exec(out)
        : null;
      if (m) {
        clearTimeout(startTimer);
        resolve({ child, port: Number(m[1]), output: () => out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(startTimer);
      reject(new Error(`relay exited (${code}) before listening:\n${out}`));
    });
  });
}
