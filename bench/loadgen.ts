// Load generator (run as its own process): N messages over S parallel sessions, one message per
// connection like Postfix's smtp-source, timing each from connect to the 250 after DATA.
// Usage: loadgen PORT[,PORT...] N SESSIONS SIZE  → prints one JSON line. With several ports the
// sessions are spread over them round-robin (session i uses port i mod k), as a load balancer
// in front of several nodes would; `perPort` counts the messages each port accepted.
import { connect } from 'node:net';

const [portList, ...rest] = process.argv.slice(2);
const ports = portList!.split(',').map(Number);
const [total, sessions, size] = rest.map(Number) as [number, number, number];
const line = `${'x'.repeat(76)}\r\n`;
const body =
  `From: <sender@bench.test>\r\nTo: <rcpt@example.net>\r\nSubject: bench\r\n\r\n` +
  line.repeat(Math.max(1, Math.ceil(size / line.length))) +
  '.\r\n';
const commands = [
  'EHLO bench-client.test\r\n',
  'MAIL FROM:<sender@bench.test>\r\n',
  'RCPT TO:<rcpt@example.net>\r\n',
  'DATA\r\n',
  body,
  'QUIT\r\n',
];
const PER_MESSAGE_TIMEOUT_MS = 60_000;

const latencies: number[] = [];
let failed = 0;
let started = 0;
const perPort = ports.map(() => 0);

function one(portIndex: number): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(ports[portIndex]!, '127.0.0.1');
    socket.setEncoding('latin1');
    let buffer = '';
    let step = 0;
    let ok = false;
    const timer = setTimeout(() => socket.destroy(), PER_MESSAGE_TIMEOUT_MS);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let m = /^(\d{3})([ -])[^\n]*\n/.exec(buffer); m; m = /^(\d{3})([ -])[^\n]*\n/.exec(buffer)) {
        buffer = buffer.slice(m[0].length);
        if (m[2] === '-') continue;
        const code = Number(m[1]);
        const expected = step === 4 ? 354 : step === 0 ? 220 : step === 6 ? 221 : 250;
        if (code !== expected && !(step === 5 && code === 250)) {
          socket.destroy();
          return;
        }
        if (step === 5) {
          ok = true;
          perPort[portIndex]!++;
          latencies.push(performance.now() - t0);
        }
        if (step < commands.length) socket.write(commands[step]!);
        step++;
        if (step > commands.length) socket.end();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (!ok) failed++;
      resolve();
    });
  });
}

async function session(index: number): Promise<void> {
  while (started < total) {
    started++;
    await one(index % ports.length);
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: sessions }, (_, i) => session(i)));
const elapsedMs = performance.now() - t0;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
process.stdout.write(
  `${JSON.stringify({ accepted: latencies.length, failed, elapsedMs, p50Ms: pct(0.5), p99Ms: pct(0.99), perPort })}\n`,
);
