import { type AddressInfo, createServer, type Server } from 'node:net';

export interface LenientSink {
  port: number;
  /** One entry per completed transaction: envelope sender and the data as read. */
  messages: { from: string; data: string }[];
  close(): Promise<void>;
}

/**
 * A deliberately lenient SMTP receiver, as the servers the SMTP-smuggling research found
 * vulnerable: any of CRLF, LF or CR ends a line, so "\n.\n" or "\r.\r" ends the data and what
 * follows is read as new commands. A relay that passes such bytes on lets one message become
 * two here. Only for tests; it accepts everything.
 */
export async function startLenientSink(): Promise<LenientSink> {
  const messages: { from: string; data: string }[] = [];
  const server: Server = createServer((socket) => {
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    let from = '';
    let data: string[] = [];
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply('220 lenient ESMTP');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let m = /\r\n|\n|\r(?!$)/.exec(buffer); m; m = /\r\n|\n|\r(?!$)/.exec(buffer)) {
        const line = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push({ from, data: data.join('\n') });
            data = [];
            reply('250 2.0.0 queued');
          } else data.push(line.startsWith('..') ? line.slice(1) : line);
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 lenient');
        else if (verb === 'MAIL') {
          from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          reply('250 2.1.0 ok');
        } else if (verb === 'DATA') {
          inData = true;
          reply('354 go ahead');
        } else if (verb === 'QUIT') {
          reply('221 2.0.0 bye');
          socket.end();
        } else reply('250 2.0.0 ok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.emit('close');
      }),
  };
}
