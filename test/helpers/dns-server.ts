import { createSocket } from 'node:dgram';

/**
 * A tiny authoritative DNS server on loopback for tests: answers MX and A questions from a
 * table, NXDOMAIN otherwise. Enough for Node's dns.Resolver pointed at it with setServers().
 */
export async function startDnsServer(records: {
  mx?: Record<string, { exchange: string; priority: number }[]>;
  a?: Record<string, string>;
}) {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    const id = query.readUInt16BE(0);
    let offset = 12;
    const labels: string[] = [];
    while (query[offset]! !== 0) {
      const len = query[offset]!;
      labels.push(query.subarray(offset + 1, offset + 1 + len).toString());
      offset += len + 1;
    }
    const name = labels.join('.').toLowerCase();
    const qtype = query.readUInt16BE(offset + 1);
    const question = query.subarray(12, offset + 5);
    const answers: Buffer[] = [];
    const nameRef = Buffer.from([0xc0, 0x0c]); // pointer to the question name
    const encode = (n: string) =>
      Buffer.concat([
        ...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
        Buffer.from([0]),
      ]);
    if (qtype === 15) {
      for (const mx of records.mx?.[name] ?? []) {
        const rdata = Buffer.concat([
          Buffer.from([mx.priority >> 8, mx.priority & 255]),
          encode(mx.exchange),
        ]);
        answers.push(
          Buffer.concat([
            nameRef,
            Buffer.from([0, 15, 0, 1, 0, 0, 0, 60, rdata.length >> 8, rdata.length & 255]),
            rdata,
          ]),
        );
      }
    } else if (qtype === 1 && records.a?.[name]) {
      const ip = Buffer.from(records.a[name]!.split('.').map(Number));
      answers.push(Buffer.concat([nameRef, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), ip]));
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(answers.length ? 0x8180 : 0x8183, 2); // response, recursion available; NXDOMAIN when empty
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
