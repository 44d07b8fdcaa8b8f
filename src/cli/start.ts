import { startRelay } from '../main.ts';
import { createLogger } from '../observability/logger.ts';
import { CONFIG_OPTION, configPath, EXIT, HELP_OPTION, loadOrReport, parse } from './common.ts';

export const START_HELP = `Usage: bridgehead start [-c FILE]

Runs the relay: the SMTP listeners, the durable queue and the delivery workers. Without a
configuration file it runs on embedded defaults: 127.0.0.1:2525, spool in ./data, delivery
into a capture directory. SIGTERM or SIGINT stops it gracefully (exit 0).

Options:
  -c, --config FILE   configuration file (default: $BRIDGEHEAD_CONFIG, ./bridgehead.yaml, embedded defaults)
`;

export async function runStart(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CONFIG_OPTION, ...HELP_OPTION }, false);
  if (values.help) {
    process.stdout.write(START_HELP);
    return EXIT.ok;
  }
  const file = configPath(values.config);
  const config = loadOrReport(file);
  if (!config) return EXIT.config;
  const log = createLogger({ level: config.log.level, format: config.log.format });
  installFatalHandlers(log);

  let relay;
  try {
    relay = await startRelay(config, { log });
  } catch (err) {
    log.fatal({ err }, 'relay:start-failed');
    console.error(`bridgehead: ${(err as Error).message}`);
    return EXIT.failed;
  }
  const first = relay.listeners[0]!;
  log.info(
    {
      config: file ?? '(embedded defaults)',
      listeners: relay.listeners.map((l) => `${l.host}:${l.port}`),
      spool: config.store.path,
    },
    'relay:started',
  );
  if (!file) {
    const route = config.routes[config.relay.defaultRoute]!;
    const capture = route.transport.kind === 'capture' ? route.transport.dir : null;
    const sb = relay.sandbox;
    console.error(
      [
        '',
        `Bridgehead is listening on ${first.host}:${first.port} (embedded defaults; spool ${config.store.path}).`,
        sb
          ? `It delivers into a sandbox Microsoft 365 tenant, ${sb.tenant.name} (MX ${sb.mx.name} on ${sb.mx.host}:${sb.mx.port}).`
          : '',
        `Try:     swaks --server ${first.host}:${first.port} --from scanner@contoso.com --to alice@contoso.com`,
        `  or:    npx bridgehead send-test --from scanner@contoso.com --to alice@contoso.com`,
        `Queue:   npx bridgehead queue list`,
        sb
          ? `Arrived: npx bridgehead sandbox mailbox alice@contoso.com   (files in ${config.sandbox.dir}/mailboxes)`
          : '',
        capture ? `Delivered mail is written as .eml files to ${capture}` : '',
        '',
      ]
        .filter((l, i, all) => l !== '' || i === 0 || i === all.length - 1)
        .join('\n'),
    );
  }

  return await new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'relay:forced-exit');
        resolve(EXIT.failed);
        return;
      }
      log.info({ signal }, 'relay:signal');
      relay.stop().then(
        () => resolve(EXIT.ok),
        (err: unknown) => {
          log.error({ err }, 'relay:stop-failed');
          resolve(EXIT.failed);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** Unknown failures end the process loudly: an MTA limping on with broken state can lose mail. */
function installFatalHandlers(log: ReturnType<typeof createLogger>): void {
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'process:uncaught-exception');
    process.exit(70);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'process:unhandled-rejection');
    process.exit(70);
  });
}
