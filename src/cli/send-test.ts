import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

import nodemailer from 'nodemailer';

import { CONFIG_OPTION, configPath, EXIT, HELP_OPTION, loadOrReport, parse, UsageError } from './common.ts';

export const SEND_TEST_HELP = `Usage: bridgehead send-test --from ADDRESS --to ADDRESS[,ADDRESS...] [--server HOST:PORT] [options]

Sends one test message to a relay (this one by default) the way a device would, and prints
the relay's reply. Exit 0 when the message was accepted (250), 1 when it was refused.

Options:
  --from ADDRESS       envelope sender and From header
  --to LIST            recipients, comma-separated
  --server HOST:PORT   relay to talk to (default: the first listener of the configuration)
  --subject TEXT       subject (default: "Bridgehead test")
  --starttls           require STARTTLS (the relay's certificate must be trusted)
  --ca FILE            PEM CA file to trust for the relay's certificate
  --user NAME          log in (AUTH) as this device user; the password is read from
                       $BRIDGEHEAD_PASSWORD, never from the command line
  -c, --config FILE    configuration file (for the default server)
`;

export async function runSendTest(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...CONFIG_OPTION,
      ...HELP_OPTION,
      from: { type: 'string' },
      to: { type: 'string' },
      server: { type: 'string' },
      subject: { type: 'string' },
      starttls: { type: 'boolean' },
      ca: { type: 'string' },
      user: { type: 'string' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(SEND_TEST_HELP);
    return EXIT.ok;
  }
  if (!values.from || !values.to) throw new UsageError('--from and --to are required');
  let host: string;
  let port: number;
  if (values.server) {
    const m = /^(.*):(\d+)$/.exec(values.server);
    if (!m) throw new UsageError('--server takes HOST:PORT');
    host = m[1]!.replace(/^\[(.*)\]$/, '$1');
    port = Number(m[2]);
  } else {
    const config = loadOrReport(configPath(values.config));
    if (!config) return EXIT.config;
    const l = config.listeners[0]!;
    host = l.host === '0.0.0.0' || l.host === '::' ? '127.0.0.1' : l.host;
    port = l.port;
  }
  const to = values.to
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const password = process.env.BRIDGEHEAD_PASSWORD;
  if (values.user && !password) throw new UsageError('--user needs the password in $BRIDGEHEAD_PASSWORD');
  const transport = nodemailer.createTransport({
    host,
    port,
    secure: false,
    requireTLS: values.starttls === true,
    ignoreTLS: values.starttls !== true,
    name: hostname(),
    ...(values.ca ? { tls: { ca: readFileSync(values.ca) } } : {}),
    ...(values.user ? { auth: { user: values.user, pass: password } } : {}),
  });
  try {
    const info = await transport.sendMail({
      envelope: { from: values.from, to },
      from: values.from,
      to,
      subject: values.subject ?? 'Bridgehead test',
      messageId: `<${randomUUID()}@bridgehead.test>`,
      text: `Test message sent by "bridgehead send-test" from ${hostname()} at ${new Date().toISOString()}.\n`,
    });
    console.log(info.response);
    return EXIT.ok;
  } catch (err) {
    const e = err as { response?: string; message: string };
    console.error(e.response ?? e.message);
    return EXIT.failed;
  } finally {
    transport.close();
  }
}
