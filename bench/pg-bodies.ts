// npx tsx bench/pg-bodies.ts: how message bodies fare in PostgreSQL as BYTEA (the relay's
// `bodies` table today) and as large objects, for the sizes a relay sees (10 KB to 30 MB;
// limits.maxMessageSize defaults to 35 MB), to decide between the two for big messages.
// Against a fresh embedded PostgreSQL (or BRIDGEHEAD_TEST_PG_URL); each variant and size runs in
// its own node process on its own fresh database, dropped afterwards. Per message: write =
// BEGIN, INSERT, COMMIT (synchronous_commit as the server has it, on by default); read = the
// body back right after the write, as delivery does. Memory: the resident memory a write or a
// read adds on top of what the process had before it (peak RSS since a reset of the kernel's
// high-water mark, minus RSS before; garbage collected before each step), and the highest RSS of
// the process during them. Loopback only; every process started here is stopped by its PID, also on errors and Ctrl-C.
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import pg from 'pg';

import { BenchPostgres, startProcess, stopAll, stopProcess, waitForLine } from './procs.ts';
import { alignColumns } from './table.ts';

interface VariantSpec {
  /** bytea: BYTEA column, default storage (EXTENDED: TOAST may compress); bytea-external: SET
   *  STORAGE EXTERNAL (never compressed, so slices read only their pages); lo: large object. */
  store: 'bytea' | 'bytea-external' | 'lo';
  /** whole: one INSERT with the body as one parameter; chunked: lo_create, then lo_put per chunk. */
  write: 'whole' | 'chunked';
  /** text: one value, text result format (hex), as the relay reads today; binary: one value, binary
   *  result format; slices: CHUNK bytes per query, binary (substring for BYTEA, lo_get for lo). */
  read: 'text' | 'binary' | 'slices';
  about: string;
}

const VARIANTS: Record<string, VariantSpec> = {
  bytea: {
    store: 'bytea',
    write: 'whole',
    read: 'text',
    about: 'BYTEA, one value in the text format (how the relay reads bodies up to 1 MB)',
  },
  'bytea-binary': { store: 'bytea', write: 'whole', read: 'binary', about: 'BYTEA, read in binary format' },
  'bytea-slices': {
    store: 'bytea',
    write: 'whole',
    read: 'slices',
    about: 'BYTEA, read by substring(data FROM o FOR n)',
  },
  'bytea-ext-slices': {
    store: 'bytea-external',
    write: 'whole',
    read: 'slices',
    about: 'BYTEA with STORAGE EXTERNAL, read by substring',
  },
  lo: { store: 'lo', write: 'whole', read: 'text', about: 'large object: lo_from_bytea in, lo_get out' },
  'lo-binary': {
    store: 'lo',
    write: 'whole',
    read: 'binary',
    about: 'large object, lo_get in binary format',
  },
  'lo-chunked': {
    store: 'lo',
    write: 'chunked',
    read: 'slices',
    about: 'large object: lo_create + lo_put per chunk, lo_get(oid, o, n)',
  },
};

interface CaseResult {
  variant: string;
  size: number;
  body: string;
  reps: number;
  writeMs: number[];
  readMs: number[];
  /** Most resident memory one write (one read) added over the RSS before it, across the reps. */
  writeExtraBytes: number;
  readExtraBytes: number;
  /** RSS with the body built and the connection open, before the first write. */
  baseRssBytes: number;
  /** Highest RSS of the process during the writes and reads. */
  peakRssBytes: number;
  /** On-disk size of what was stored, per message (table, TOAST, indexes; pg_largeobject for lo). */
  storedBytesPerMessage: number;
}

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', short: 'z', default: '10240,1048576,10485760,31457280' },
    reps: { type: 'string', short: 'r', default: '7' },
    variants: { type: 'string', short: 'v', default: Object.keys(VARIANTS).join(',') },
    body: { type: 'string', short: 'b', default: 'attachment' },
    chunk: { type: 'string', default: String(2 ** 20) },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
    url: { type: 'string' },
  },
});
const REPS = Math.max(1, Math.min(50, Number(values.reps)));
const CHUNK = Number(values.chunk);
const CASE_TIMEOUT_MS = 600_000;

/**
 * A mail-like body of `size` bytes. attachment: base64 of random bytes in 76-character CRLF
 * lines, as an attached PDF, image or archive is (TOAST's pglz cannot compress it); text: plain
 * text lines from a small vocabulary, which pglz compresses.
 */
function makeBody(size: number, kind: string): Buffer {
  const header = 'From: <sender@bench.test>\r\nTo: <rcpt@example.net>\r\nSubject: bench\r\n\r\n';
  let text: string;
  if (kind === 'text') {
    const words = ['invoice', 'printer', 'scan', 'the', 'of', 'report', 'page', 'toner', 'queue', 'status'];
    const r = randomBytes(Math.ceil(size / 5));
    const lines: string[] = [];
    let line = '';
    for (let i = 0, n = 0; n < size; i++) {
      line += `${words[r[i % r.length]! % words.length]!} `;
      if (line.length > 70) {
        lines.push(line.trimEnd());
        n += line.length + 2;
        line = '';
      }
    }
    text = lines.join('\r\n');
  } else {
    const b64 = randomBytes(Math.ceil((size * 3) / 4)).toString('base64');
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
    text = lines.join('\r\n');
  }
  return Buffer.from(header + text).subarray(0, size);
}

/** Result parsers: BIGINT as number; BYTEA in the binary format as the raw bytes. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    format === 'binary' && oid === 17
      ? (v: Buffer) => v
      : oid === 20
        ? (v: string) => Number(v)
        : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
/** Resets the kernel's peak-RSS mark of this process to its current RSS (Linux ≥ 4.0). */
const resetPeak = () => writeFileSync('/proc/self/clear_refs', '5');
const peakRss = () =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

/** Runs `fn` and reports its time and the resident memory it added at its peak. */
async function measured(
  fn: () => Promise<void>,
): Promise<{ ms: number; extraBytes: number; peakBytes: number }> {
  gc();
  resetPeak();
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const peak = peakRss();
  return { ms, extraBytes: Math.max(0, peak - before), peakBytes: peak };
}

async function runCase(variant: string, size: number, url: string): Promise<CaseResult> {
  const spec = VARIANTS[variant]!;
  const body = makeBody(size, values.body!);
  const client = new pg.Client({ connectionString: url, types: TYPES });
  await client.connect();
  const isLo = spec.store === 'lo';
  if (isLo) await client.query('CREATE TABLE bench_lo (id TEXT PRIMARY KEY, loid OID NOT NULL)');
  else {
    await client.query('CREATE TABLE bench_bytea (id TEXT PRIMARY KEY, data BYTEA NOT NULL)');
    if (spec.store === 'bytea-external')
      await client.query('ALTER TABLE bench_bytea ALTER COLUMN data SET STORAGE EXTERNAL');
  }
  // `binary` is a per-query option of pg (its Query reads config.binary) missing from the typings.
  const read1 = (text: string, params: unknown[]) => {
    const config: pg.QueryConfig & { binary: boolean } = {
      text,
      values: params,
      binary: spec.read !== 'text',
    };
    return client.query<{ data: Buffer }>(config);
  };

  const write = async (id: string) => {
    await client.query('BEGIN');
    try {
      if (spec.write === 'chunked') {
        const { rows } = await client.query<{ loid: number }>(
          'INSERT INTO bench_lo (id, loid) VALUES ($1, lo_create(0)) RETURNING loid',
          [id],
        );
        for (let o = 0; o < body.length; o += CHUNK)
          await client.query('SELECT lo_put($1, $2, $3)', [rows[0]!.loid, o, body.subarray(o, o + CHUNK)]);
      } else if (isLo) {
        await client.query('INSERT INTO bench_lo (id, loid) VALUES ($1, lo_from_bytea(0, $2))', [id, body]);
      } else {
        await client.query('INSERT INTO bench_bytea (id, data) VALUES ($1, $2)', [id, body]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  };

  /** Reads the body back and checks it. Slices are compared and dropped as they come, as a
   *  delivery streaming them to the next hop would; whole values are held, as the relay does. */
  const read = async (id: string) => {
    let length = 0;
    let same = true;
    if (spec.read === 'slices') {
      const sql = isLo
        ? 'SELECT lo_get(loid, $2, $3) AS data FROM bench_lo WHERE id = $1'
        : 'SELECT substring(data FROM $2::int + 1 FOR $3::int) AS data FROM bench_bytea WHERE id = $1';
      for (;;) {
        const { rows } = await read1(sql, [id, length, CHUNK]);
        const part = rows[0]!.data;
        same &&= part.equals(body.subarray(length, length + part.length));
        length += part.length;
        if (part.length < CHUNK) break;
      }
    } else {
      const { rows } = await read1(
        isLo
          ? 'SELECT lo_get(loid) AS data FROM bench_lo WHERE id = $1'
          : 'SELECT data FROM bench_bytea WHERE id = $1',
        [id],
      );
      const data = rows[0]!.data;
      same = data.equals(body);
      length = data.length;
    }
    if (!same || length !== body.length)
      throw new Error(`${variant} ${size}: read back ${length} bytes that differ from the ${size} written`);
  };

  gc();
  const baseRssBytes = process.memoryUsage().rss;
  const writeMs: number[] = [];
  const readMs: number[] = [];
  let writeExtraBytes = 0;
  let readExtraBytes = 0;
  let peakRssBytes = baseRssBytes;
  for (let i = 0; i < REPS; i++) {
    const w = await measured(() => write(`m${i}`));
    const r = await measured(() => read(`m${i}`));
    writeMs.push(w.ms);
    readMs.push(r.ms);
    writeExtraBytes = Math.max(writeExtraBytes, w.extraBytes);
    readExtraBytes = Math.max(readExtraBytes, r.extraBytes);
    peakRssBytes = Math.max(peakRssBytes, w.peakBytes, r.peakBytes);
  }
  const { rows } = await client.query<{ bytes: number }>(
    isLo
      ? "SELECT pg_total_relation_size('bench_lo') + pg_total_relation_size('pg_largeobject') AS bytes"
      : "SELECT pg_total_relation_size('bench_bytea') AS bytes",
  );
  await client.end();
  return {
    variant,
    size,
    body: values.body!,
    reps: REPS,
    writeMs,
    readMs,
    writeExtraBytes,
    readExtraBytes,
    baseRssBytes,
    peakRssBytes,
    storedBytesPerMessage: Number(rows[0]!.bytes) / REPS,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sizeLabel = (n: number) => (n >= 2 ** 20 ? `${n / 2 ** 20}MB` : n >= 1024 ? `${n / 1024}KB` : `${n}B`);

function table(results: CaseResult[]): string {
  const head = [
    'variant',
    'size',
    'reps',
    'write_ms',
    'write_MB/s',
    'read_ms',
    'read_MB/s',
    'write_mem_MB',
    'read_mem_MB',
    'base_rss_MB',
    'peak_rss_MB',
    'stored_MB/msg',
  ];
  const mb = (n: number) => n / 2 ** 20;
  const fixed = (n: number) => n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0);
  const cells = [
    head,
    ...results.map((r) => {
      const w = median(r.writeMs);
      const rd = median(r.readMs);
      return [
        r.variant,
        sizeLabel(r.size),
        String(r.reps),
        fixed(w),
        fixed(mb(r.size) / (w / 1000)),
        fixed(rd),
        fixed(mb(r.size) / (rd / 1000)),
        mb(r.writeExtraBytes).toFixed(0),
        mb(r.readExtraBytes).toFixed(0),
        mb(r.baseRssBytes).toFixed(0),
        mb(r.peakRssBytes).toFixed(0),
        mb(r.storedBytesPerMessage).toFixed(2),
      ];
    }),
  ];
  return alignColumns(cells, new Set([0]));
}

/** The database a case ran on is dropped afterwards, so the next case starts on an empty disk. */
async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(process.env.BRIDGEHEAD_TEST_PG_URL ?? url);
  if (!process.env.BRIDGEHEAD_TEST_PG_URL) admin.pathname = '/postgres';
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
  } finally {
    await client.end();
  }
}

const postgres = new BenchPostgres();

async function main(): Promise<void> {
  const sizes = values.sizes!.split(',').map(Number);
  const variants = values.variants!.split(',');
  const unknown = variants.filter((v) => !VARIANTS[v]);
  if (unknown.length) throw new Error(`unknown variant ${unknown.join(', ')}`);
  if (!['attachment', 'text'].includes(values.body!)) throw new Error('--body is attachment or text');
  await postgres.start();
  const results: CaseResult[] = [];
  for (const size of sizes) {
    for (const variant of variants) {
      if (!values.json) process.stderr.write(`pg-bodies: ${variant} ${sizeLabel(size)} x ${REPS} ...\n`);
      const url = await postgres.server.database();
      let child: ChildProcess | null = null;
      try {
        child = startProcess(
          process.execPath,
          [
            '--expose-gc',
            '--import',
            'tsx',
            new URL(import.meta.url).pathname,
            '--child',
            variant,
            '-z',
            String(size),
            '-r',
            String(REPS),
            '-b',
            values.body!,
            '--chunk',
            String(CHUNK),
            '--url',
            url,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        results.push(JSON.parse(await waitForLine(child, /^\{/, CASE_TIMEOUT_MS)) as CaseResult);
      } finally {
        if (child) await stopProcess(child);
        await dropDatabase(url);
      }
    }
  }
  await postgres.stop();
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  console.log(table(results));
  console.log(
    `\n${values.body} bodies; medians of ${REPS}; chunk ${sizeLabel(CHUNK)}; MB = 2^20 bytes; ` +
      'write_mem/read_mem: most resident memory one write/read added',
  );
  for (const v of variants) console.log(`  ${v.padEnd(16)} ${VARIANTS[v]!.about}`);
}

if (values.child) {
  // One case in this process; the parent reads the JSON line.
  runCase(values.child, Number(values.sizes), values.url!)
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
} else {
  const cleanup = () => Promise.all([stopAll(), postgres.stop().catch(() => undefined)]);
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  main().catch(async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  });
}
