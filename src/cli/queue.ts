import { bounceNow } from '../dsn/bouncer.ts';
import { silentLogger } from '../observability/logger.ts';
import { openStore } from '../queue/open.ts';
import { type ListFilter, QUEUE_VIEWS, type QueueStore } from '../queue/store.ts';
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
  list [SELECT] [--state S] [--limit N]  messages, newest first; S: active, done, held, throttled
  show ID                                one message: envelope, client, recipients, attempt history
  retry ID | SELECT                      make waiting messages due now
  hold ID | SELECT                       keep messages in the queue without sending them
  release ID | SELECT                    let held messages go again
  bounce ID | SELECT                     fail the pending recipients now and send the sender a bounce
  delete ID | SELECT                     remove messages from the queue (they will not be sent)
  stats                                  depth and age by state, route and sending mailbox

SELECT (waiting messages; combine to narrow):
  --sender ADDRESS    by envelope sender
  --domain DOMAIN     with a recipient at this domain
  --route NAME        by route

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
    sender: { type: 'string' },
    domain: { type: 'string' },
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
  const store = await openStore(config);
  try {
    switch (sub) {
      case 'list':
        return await list(store, values);
      case 'show':
        return await show(store, need(id), values.json === true);
      case 'retry':
        return await apply(store, id, values, 'is due now', (m) => store.retryNow(m, Date.now()));
      case 'hold':
        return await apply(store, id, values, 'held', (m) => store.setHeld(m, true));
      case 'release':
        return await apply(store, id, values, 'released', (m) => store.setHeld(m, false));
      case 'bounce':
        return await apply(store, id, values, 'bounced', (m) => bounceNow(store, config, silentLogger(), m));
      case 'delete':
        return await apply(store, id, values, 'deleted', (m) => store.delete(m));
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

interface Selection {
  sender?: string;
  domain?: string;
  route?: string;
  json?: boolean;
}

/**
 * Runs `op` on one message by id, or on every waiting message the selectors match. Without an
 * id at least one selector is required, so no command touches the whole queue by accident.
 */
async function apply(
  store: QueueStore,
  id: string | undefined,
  sel: Selection,
  what: string,
  op: (id: string) => Promise<boolean>,
): Promise<number> {
  let ids: string[];
  if (id) ids = [id];
  else {
    if (!sel.sender && !sel.domain && !sel.route)
      throw new UsageError('name a message id, or select with --sender, --domain or --route');
    ids = (await store.list({ ...selection(sel), state: 'active', limit: 1_000_000 })).map((m) => m.id);
  }
  const done: string[] = [];
  for (const m of ids) if (await op(m)) done.push(m);
  if (sel.json) console.log(JSON.stringify({ ok: done.length > 0, [what]: done }));
  else if (id) {
    if (done.length) console.log(`${id} ${what}`);
    else console.error(`${id}: no such message waiting in the queue`);
  } else console.log(`${done.length} message${done.length === 1 ? '' : 's'} ${what}`);
  return id && done.length === 0 ? EXIT.failed : EXIT.ok;
}

function selection(sel: Selection): ListFilter {
  return {
    ...(sel.sender !== undefined ? { sender: sel.sender } : {}),
    ...(sel.domain ? { recipientDomain: sel.domain } : {}),
    ...(sel.route ? { route: sel.route } : {}),
  };
}

async function list(
  store: QueueStore,
  values: Selection & { state?: string; limit?: string },
): Promise<number> {
  if (values.state && !QUEUE_VIEWS[values.state])
    throw new UsageError('--state is active, done, held or throttled');
  const limit = values.limit ? Number(values.limit) : 50;
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a whole number');
  const messages = await store.list({
    ...selection(values),
    ...(values.state ? QUEUE_VIEWS[values.state] : {}),
    limit,
  });
  if (values.json) {
    console.log(JSON.stringify(messages, null, 2));
    return EXIT.ok;
  }
  printTable(
    ['ID', 'RECEIVED', 'STATE', 'FROM', 'RCPTS', 'SIZE', 'TRIES', 'NEXT ATTEMPT', 'LAST REPLY / WAITING FOR'],
    messages.map((m) => [
      m.id,
      iso(m.receivedAt),
      m.held ? 'held' : m.throttleReason ? 'throttled' : m.state,
      m.mailFrom || '<>',
      summarise(m.recipients.map((r) => r.state)),
      formatSize(m.size),
      String(m.attempts),
      m.state === 'active' ? iso(m.nextAttemptAt) : '-',
      (m.throttleReason ?? m.lastReply ?? '').slice(0, 80),
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
    c.mailbox && `assigned mailbox ${c.mailbox}`,
  ];
  console.log(`  client       ${who.filter(Boolean).join(', ')}`);
  console.log(`  sender       <${m.mailFrom}>`);
  console.log(`  message-id   ${m.messageIdHeader ?? '-'}`);
  console.log(`  size         ${formatSize(m.size)}  route ${m.route}  attempts ${m.attempts}`);
  if (m.state === 'active')
    console.log(`  next attempt ${iso(m.nextAttemptAt)}  expires ${iso(m.expiresAt)}`);
  if (m.mailbox) console.log(`  mailbox      ${m.mailbox}`);
  if (m.held) console.log(`  held         by an operator ("bridgehead queue release ${m.id}" lets it go)`);
  if (m.throttleReason) console.log(`  waiting for  ${m.throttleReason}`);
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
  if (s.held) console.log(`held             ${s.held}`);
  if (routes.length)
    printTable(
      ['ROUTE', 'ACTIVE', 'OLDEST'],
      routes.map(([r, v]) => [r, String(v.active), age(v.oldestActiveAt)]),
    );
  const mailboxes = Object.entries(s.byMailbox);
  if (mailboxes.length)
    printTable(
      ['MAILBOX', 'ACTIVE', 'THROTTLED', 'OLDEST'],
      mailboxes.map(([m, v]) => [m, String(v.active), String(v.throttled), age(v.oldestActiveAt)]),
    );
  return EXIT.ok;
}
