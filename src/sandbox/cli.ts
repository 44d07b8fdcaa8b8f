import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { EXIT, HELP_OPTION, parse, printTable, UsageError } from '../cli/common.ts';
import { createLogger } from '../observability/logger.ts';
import { headerValue } from '../smtp/received.ts';
import { startSandbox } from './index.ts';
import { demoTenant, loadTenantFile } from './tenant.ts';

export const SANDBOX_HELP = `Usage: bridgehead sandbox [run] [-c TENANT.yaml] [--host H] [--mx-port N] [--dir DIR]
       bridgehead sandbox mailbox ADDRESS [--folder Inbox|SentItems] [--dir DIR] [--json]

An offline Microsoft 365 tenant for trying devices and Bridgehead without a real tenant.

  run       start the sandbox alone (default); prints its endpoints and the CA file to trust
  mailbox   list what arrived in a sandbox mailbox folder, newest first

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
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(SANDBOX_HELP);
    return EXIT.ok;
  }
  const [sub = 'run', address] = positionals;
  const dir = values.dir ?? join('data', 'sandbox');
  if (sub === 'mailbox') return listMailbox(dir, address, values.folder ?? 'Inbox', values.json === true);
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
