// Process helpers for the benchmark: start children in their own process group, stop them by
// PID, and sample the memory and CPU of a process tree from /proc.
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const started = new Set<ChildProcess>();

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
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
