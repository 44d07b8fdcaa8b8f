import { openStore } from '../queue/open.ts';
import { type QueueStore, TRACE_STATUSES, type TraceQuery } from '../queue/store.ts';
import { parseDuration } from '../util/units.ts';
import {
  CONFIG_OPTION,
  configPath,
  EXIT,
  HELP_OPTION,
  iso,
  loadOrReport,
  parse,
  printTable,
  UsageError,
} from './common.ts';

export const TRACE_HELP = `Usage: bridgehead trace [QUERY] [--json | --csv]
       bridgehead trace ID [--json]
       bridgehead trace refusals [--ip ADDRESS] [--since 1h] [--json | --csv]

The message trace of this relay: one row per recipient, newest first, as in Exchange's
message trace for the hop before it; with a queue id, every event of that message; with
"refusals", what was refused and told to whom.

QUERY (combine to narrow):
  --sender PATTERN       envelope sender; * is a wildcard ("*@contoso.com")
  --recipient PATTERN    recipient; * is a wildcard
  --status S             Delivered, Pending, Failed, Throttled, Held, Expired
  --since 2h | --until 10m     received within (durations back from now) or ISO times
  --message-id ID        the Message-ID header
  --ip ADDRESS           the device's address
  --device NAME          client rule or login name
  --limit N --offset N   page (default 50)

Options:
  -c, --config FILE   configuration file (the spool location comes from it)
`;

export async function runTrace(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...CONFIG_OPTION,
    ...HELP_OPTION,
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
    sender: { type: 'string' },
    recipient: { type: 'string' },
    status: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'message-id': { type: 'string' },
    ip: { type: 'string' },
    device: { type: 'string' },
    limit: { type: 'string' },
    offset: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(TRACE_HELP);
    return EXIT.ok;
  }
  const status = values.status
    ? TRACE_STATUSES.find((s) => s.toLowerCase() === values.status!.toLowerCase())
    : undefined;
  if (values.status && !status) throw new UsageError(`--status is one of ${TRACE_STATUSES.join(', ')}`);
  const config = loadOrReport(configPath(values.config));
  if (!config) return EXIT.config;
  const store = await openStore(config);
  try {
    const [first] = positionals;
    const page = { limit: whole(values.limit, 50), offset: whole(values.offset, 0) };
    if (first === 'refusals')
      return await refusals(store, { ip: values.ip, since: when(values.since), ...page }, values);
    if (first) return await events(store, first, values.json === true);
    const query: TraceQuery = {
      ...(values.sender !== undefined ? { sender: values.sender } : {}),
      ...(values.recipient !== undefined ? { recipient: values.recipient } : {}),
      ...(status ? { status } : {}),
      ...(values.since ? { since: when(values.since) } : {}),
      ...(values.until ? { until: when(values.until) } : {}),
      ...(values['message-id'] ? { messageId: values['message-id'] } : {}),
      ...(values.ip ? { clientIp: values.ip } : {}),
      ...(values.device ? { device: values.device } : {}),
      ...page,
    };
    const rows = await store.trace(query);
    const table = rows.map((r) => ({
      received: iso(r.receivedAt),
      status: r.status,
      sender: r.sender || '<>',
      recipient: r.recipient,
      queueId: r.queueId,
      client: r.client.ip,
      device: r.client.rule ?? '',
      user: r.client.user ?? '',
      messageId: r.messageIdHeader ?? '',
      lastReply: r.lastReply ?? '',
    }));
    return output(table, values, [
      'received',
      'status',
      'sender',
      'recipient',
      'queueId',
      'client',
      'device',
      'lastReply',
    ]);
  } finally {
    await store.close();
  }
}

async function events(store: QueueStore, id: string, json: boolean): Promise<number> {
  const list = await store.traceMessage(id);
  if (!list) {
    console.error(`${id}: no such message in the trace (unknown, or purged after store.keepDelivered)`);
    return EXIT.failed;
  }
  if (json) console.log(JSON.stringify(list, null, 2));
  else
    printTable(
      ['TIME', 'EVENT', 'RECIPIENT', 'DETAIL'],
      list.map((e) => [iso(e.at), e.event, e.recipient ?? '', e.detail]),
    );
  return EXIT.ok;
}

async function refusals(
  store: QueueStore,
  query: { ip?: string | undefined; since?: number | undefined; limit: number; offset: number },
  values: { json?: boolean; csv?: boolean },
): Promise<number> {
  const rows = (
    await store.refusals({
      ...(query.ip ? { ip: query.ip } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      limit: query.limit,
      offset: query.offset,
    })
  ).map((r) => ({
    ...r,
    at: iso(r.at),
    user: r.user ?? '',
    sender: r.sender ?? '',
    recipient: r.recipient ?? '',
  }));
  return output(rows, values, ['at', 'ip', 'listener', 'user', 'phase', 'sender', 'recipient', 'reply']);
}

function output(
  rows: Record<string, unknown>[],
  values: { json?: boolean; csv?: boolean },
  columns: string[],
): number {
  if (values.json) console.log(JSON.stringify(rows, null, 2));
  else if (values.csv) {
    const cell = (v: unknown) => {
      const s = String(v ?? '');
      return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    console.log(columns.join(','));
    for (const r of rows) console.log(columns.map((c) => cell(r[c])).join(','));
  } else
    printTable(
      columns.map((c) => c.toUpperCase()),
      rows.map((r) => columns.map((c) => String(r[c] ?? '').slice(0, 70))),
    );
  return EXIT.ok;
}

function whole(v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError('--limit and --offset take whole numbers');
  return n;
}

/** "2h" (that long ago) or an ISO time. */
function when(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isNaN(t) && /\d{4}-\d\d-\d\d/.test(v)) return t;
  try {
    return Date.now() - parseDuration(v);
  } catch {
    throw new UsageError(`"${v}" is neither a duration such as 2h nor an ISO time`);
  }
}
