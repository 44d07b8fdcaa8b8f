import { SqliteQueueStore } from '../queue/sqlite/store.ts';
import type { MessageState, QueueStore } from '../queue/store.ts';
import { formatSize } from '../util/units.ts';
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

export const QUEUE_HELP = `Usage: bridgehead queue <command> [-c FILE] [--json]

Commands:
  list [--state active|done] [--route NAME] [--limit N]   messages, newest first
  show ID                                                 one message: envelope, recipients, attempt history
  retry ID                                                make a waiting message due now
  delete ID                                               remove a message from the queue (it will not be sent)
  stats                                                   depth and age by state and route

Options:
  -c, --config FILE   configuration file (the spool location comes from it)
  --json              machine-readable output
`;

export async function runQueue(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...CONFIG_OPTION,
    ...HELP_OPTION,
    json: { type: 'boolean' },
    state: { type: 'string' },
    route: { type: 'string' },
    limit: { type: 'string' },
  });
  const [sub, id] = positionals;
  if (values.help || !sub) {
    process.stdout.write(QUEUE_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const config = loadOrReport(configPath(values.config));
  if (!config) return EXIT.config;
  // Opened beside a running relay: WAL lets both read and write; leases are left alone.
  const store = SqliteQueueStore.open({ path: config.store.path!, recoverLeases: false });
  try {
    switch (sub) {
      case 'list':
        return await list(store, values);
      case 'show':
        return await show(store, need(id), values.json === true);
      case 'retry':
        return report(await store.retryNow(need(id), Date.now()), id!, 'is due now', values.json === true);
      case 'delete':
        return report(await store.delete(need(id)), id!, 'deleted', values.json === true);
      case 'stats':
        return await stats(store, values.json === true);
      default:
        throw new UsageError(`unknown queue command "${sub}"`);
    }
  } finally {
    await store.close();
  }
}

function need(id: string | undefined): string {
  if (!id) throw new UsageError('this command needs a message id');
  return id;
}

function report(ok: boolean, id: string, what: string, json: boolean): number {
  if (json) console.log(JSON.stringify({ id, ok }));
  else if (ok) console.log(`${id} ${what}`);
  else console.error(`${id}: no such message waiting in the queue`);
  return ok ? EXIT.ok : EXIT.failed;
}

async function list(
  store: QueueStore,
  values: { state?: string; route?: string; limit?: string; json?: boolean },
): Promise<number> {
  if (values.state && values.state !== 'active' && values.state !== 'done')
    throw new UsageError('--state is active or done');
  const limit = values.limit ? Number(values.limit) : 50;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a whole number');
  const messages = await store.list({
    state: values.state as MessageState | undefined,
    route: values.route,
    limit,
  });
  if (values.json) {
    console.log(JSON.stringify(messages, null, 2));
    return EXIT.ok;
  }
  printTable(
    ['ID', 'RECEIVED', 'STATE', 'FROM', 'RCPTS', 'SIZE', 'TRIES', 'NEXT ATTEMPT', 'LAST REPLY'],
    messages.map((m) => [
      m.id,
      iso(m.receivedAt),
      m.state,
      m.mailFrom || '<>',
      summarise(m.recipients.map((r) => r.state)),
      formatSize(m.size),
      String(m.attempts),
      m.state === 'active' ? iso(m.nextAttemptAt) : '-',
      (m.lastReply ?? '').slice(0, 60),
    ]),
  );
  return EXIT.ok;
}

function summarise(states: string[]): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
}

async function show(store: QueueStore, id: string, json: boolean): Promise<number> {
  const m = await store.get(id);
  if (!m) {
    console.error(`${id}: no such message`);
    return EXIT.failed;
  }
  if (json) {
    console.log(JSON.stringify(m, null, 2));
    return EXIT.ok;
  }
  console.log(`Message ${m.id} (${m.state})`);
  console.log(
    `  received     ${iso(m.receivedAt)} from ${m.client.ip} (${m.client.helo}) on ${m.client.listener}`,
  );
  const c = m.client;
  const who = [
    c.rule && `rule ${c.rule}`,
    c.user && `user ${c.user}`,
    c.tls ?? 'no TLS',
    c.mailbox && `mailbox ${c.mailbox}`,
  ];
  console.log(`  client       ${who.filter(Boolean).join(', ')}`);
  console.log(`  sender       <${m.mailFrom}>`);
  console.log(`  message-id   ${m.messageIdHeader ?? '-'}`);
  console.log(`  size         ${formatSize(m.size)}  route ${m.route}  attempts ${m.attempts}`);
  if (m.state === 'active')
    console.log(`  next attempt ${iso(m.nextAttemptAt)}  expires ${iso(m.expiresAt)}`);
  console.log('Recipients:');
  printTable(
    ['  ADDRESS', 'STATE', 'TRIES', 'LAST REPLY'],
    m.recipients.map((r) => [`  ${r.address}`, r.state, String(r.attempts), r.lastReply ?? '-']),
  );
  if (m.history.length) {
    console.log('History:');
    const addr = new Map(m.recipients.map((r) => [r.id, r.address]));
    printTable(
      ['  TIME', 'RECIPIENT', 'OUTCOME', 'VIA', 'REPLY'],
      m.history.map((a) => [
        `  ${iso(a.startedAt)}`,
        addr.get(a.recipientId) ?? '?',
        a.outcome,
        a.upstream ?? a.transport,
        a.reply,
      ]),
    );
  }
  return EXIT.ok;
}

async function stats(store: QueueStore, json: boolean): Promise<number> {
  const s = await store.stats();
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return EXIT.ok;
  }
  const age = (t: number | null) => (t === null ? '-' : `${Math.round((Date.now() - t) / 1000)}s`);
  console.log(`active messages  ${s.active}   done ${s.done}   oldest active ${age(s.oldestActiveAt)}`);
  console.log(
    `recipients       queued ${s.recipients.queued}   deferred ${s.recipients.deferred}   delivered ${s.recipients.delivered}   failed ${s.recipients.failed}`,
  );
  const routes = Object.entries(s.byRoute);
  if (routes.length)
    printTable(
      ['ROUTE', 'ACTIVE', 'OLDEST'],
      routes.map(([r, v]) => [r, String(v.active), age(v.oldestActiveAt)]),
    );
  return EXIT.ok;
}
