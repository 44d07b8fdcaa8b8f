// Upstream sink (run as its own process): accepts everything on 127.0.0.1:PORT and prints the
// running count of received messages every 20 ms. Usage: sink PORT
import { SMTPServer } from 'smtp-server';

const port = Number(process.argv[2]);
let count = 0;
let last = -1;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  maxClients: 1000,
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      count++;
      cb();
    });
  },
});
server.on('error', () => undefined);
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
setInterval(() => {
  if (count !== last) process.stdout.write(`${(last = count)}\n`);
}, 20);
process.on('SIGTERM', () => process.exit(0));
