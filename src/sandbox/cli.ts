import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';

import { EXIT, HELP_OPTION, parse, printTable, UsageError } from '../cli/common.ts';
import { createLogger } from '../observability/logger.ts';
import { headerValue } from '../smtp/received.ts';
import { startSandbox } from './index.ts';
import { demoTenant, loadTenantFile } from './tenant.ts';

export const SANDBOX_HELP = `Usage: bridgehead sandbox [run] [-c TENANT.yaml] [--host H] [--mx-port N] [--dir DIR]
       bridgehead sandbox mailbox ADDRESS [--folder Inbox|SentItems] [--dir DIR] [--json]
       bridgehead sandbox trace [--sender PATTERN] [--recipient PATTERN] [--dir DIR] [--json]

An offline Microsoft 365 tenant for trying devices and Bridgehead without a real tenant.

  run       start the sandbox alone (default); prints its endpoints and the CA file to trust
  mailbox   list what arrived in a sandbox mailbox folder, newest first
  trace     the running sandbox's message trace (wildcards such as *@contoso.com)

Options:
  -c, --tenant FILE tenant YAML (default: the contoso.com demo tenant); see docs/sandbox.md
  --host H          address to listen on (default 127.0.0.1)
  --mx-port N       port of the tenant's MX host (default 2526; 0 picks a free one)
  --dir DIR         where mailboxes are written as .eml files (default ./data/sandbox, which is
                    also where the embedded-defaults relay keeps its sandbox)
  --folder NAME     Inbox (default) or SentItems
  --json            machine-readable output
`;

export async function runSandboxCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...HELP_OPTION,
    tenant: { type: 'string', short: 'c' },
    host: { type: 'string' },
    'mx-port': { type: 'string' },
    dir: { type: 'string' },
    folder: { type: 'string' },
    sender: { type: 'string' },
    recipient: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(SANDBOX_HELP);
    return EXIT.ok;
  }
  const [sub = 'run', address] = positionals;
  const dir = values.dir ?? join('data', 'sandbox');
  if (sub === 'mailbox') return listMailbox(dir, address, values.folder ?? 'Inbox', values.json === true);
  if (sub === 'trace')
    return showTrace(dir, { sender: values.sender, recipient: values.recipient }, values.json === true);
  if (sub !== 'run') throw new UsageError(`unknown sandbox command "${sub}"`);

  const tenant = values.tenant ? loadTenantFile(values.tenant) : demoTenant();
  const port = values['mx-port'] === undefined ? 2526 : Number(values['mx-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--mx-port takes a port number');
  const sandbox = await startSandbox({
    tenant,
    host: values.host,
    mxPort: port,
    dir,
    log: createLogger({ level: 'info', format: 'auto' }),
  });
  console.error(
    [
      `Sandbox tenant ${tenant.name} (${tenant.tenantId}) is running.`,
      `  MX host   ${sandbox.mx.name} on ${sandbox.mx.host}:${sandbox.mx.port} (STARTTLS; trust ${sandbox.caFile})`,
      `  Mailboxes ${tenant.mailboxes.map((m) => m.address).join(', ')}`,
      `  Arrived   bridgehead sandbox mailbox ${tenant.mailboxes[0]?.address ?? 'ADDRESS'} --dir ${dir}`,
    ].join('\n'),
  );
  return new Promise<number>((resolve) => {
    const stop = () => void sandbox.stop().then(() => resolve(EXIT.ok));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function listMailbox(dir: string, address: string | undefined, folder: string, json: boolean): number {
  if (!address) throw new UsageError('mailbox needs an address');
  if (folder !== 'Inbox' && folder !== 'SentItems') throw new UsageError('--folder is Inbox or SentItems');
  const path = join(dir, 'mailboxes', address.toLowerCase(), folder);
  const files = existsSync(path)
    ? readdirSync(path)
        .filter((f) => f.endsWith('.eml'))
        .sort()
        .reverse()
    : [];
  const rows = files.map((f) => {
    const raw = readFileSync(join(path, f));
    return {
      file: join(path, f),
      from: headerValue(raw, 'from'),
      subject: headerValue(raw, 'subject'),
      date: headerValue(raw, 'date'),
    };
  });
  if (json) console.log(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) console.log(`${address} ${folder}: empty (${path})`);
  else
    printTable(
      ['DATE', 'FROM', 'SUBJECT', 'FILE'],
      rows.map((r) => [r.date ?? '-', r.from ?? '-', r.subject ?? '-', r.file]),
    );
  return EXIT.ok;
}

/** Asks the running sandbox (found through DIR/endpoints.json, trusted through DIR/ca.pem) for its trace. */
async function showTrace(
  dir: string,
  query: { sender?: string; recipient?: string },
  json: boolean,
): Promise<number> {
  const endpointsFile = join(dir, 'endpoints.json');
  if (!existsSync(endpointsFile)) {
    console.error(`no running sandbox found in ${dir} (endpoints.json is missing)`);
    return EXIT.failed;
  }
  const { http } = JSON.parse(readFileSync(endpointsFile, 'utf8')) as { http: string };
  const params = new URLSearchParams(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${http}/sandbox/trace?${params}`,
      { ca: readFileSync(join(dir, 'ca.pem')) },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const rows = JSON.parse(body) as {
    received: number;
    senderAddress: string;
    recipientAddress: string;
    subject: string | null;
    status: string;
  }[];
  if (json) console.log(JSON.stringify(rows, null, 2));
  else
    printTable(
      ['DATE', 'SENDER', 'RECIPIENT', 'SUBJECT', 'STATUS'],
      rows.map((r) => [
        new Date(r.received).toISOString(),
        r.senderAddress,
        r.recipientAddress,
        r.subject ?? '',
        r.status,
      ]),
    );
  return EXIT.ok;
}
