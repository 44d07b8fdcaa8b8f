import { connect, type Socket } from 'node:net';

/**
 * A raw SMTP client for byte-exact tests: send lines, read whole replies (multi-line aware).
 * Every read is bounded by a timeout so a hanging server fails the test instead of hanging it.
 */
export class RawSmtp {
  readonly socket: Socket;

  /** Wraps an already connected socket (e.g. a TLS socket after STARTTLS). */
  static wrap(socket: Socket): RawSmtp {
    return new RawSmtp(socket);
  }

  /** The next raw line as sent, without CRLF (for replies whose exact bytes matter, like "334 "). */
  async rawLine(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#buffer.indexOf('\r\n');
      if (i >= 0) {
        const line = this.#buffer.slice(0, i);
        this.#buffer = this.#buffer.slice(i + 2);
        return line;
      }
      if (this.#closed || Date.now() > deadline)
        throw new Error(`no line (buffer: ${JSON.stringify(this.#buffer)})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  #buffer = '';
  #waiters: (() => void)[] = [];
  #closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.#buffer += d;
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress }, () => resolve(new RawSmtp(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line (CRLF added) and returns the full reply. */
  async command(line: string, timeoutMs = 5000): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** Reads one complete reply (all lines up to the one with a space after the code). */
  async reply(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.#buffer);
      if (m) {
        this.#buffer = this.#buffer.slice(m[0].length);
        return m[0].replace(/\r?\n$/, '');
      }
      if (this.#closed) return this.#buffer ? this.#buffer : '<closed>';
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no SMTP reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.#buffer)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * One mail transaction: MAIL, RCPT for each recipient, DATA and the message (the final dot
   * is added). Returns the reply to the end of data, or the first refusal on the way.
   */
  async transaction(from: string, to: string[], message: string): Promise<string> {
    for (const [line, ok] of [
      [`MAIL FROM:<${from}>`, /^250 /],
      ...to.map((r) => [`RCPT TO:<${r}>`, /^250 /] as const),
      ['DATA', /^354 /],
    ] as const) {
      const reply = await this.command(line);
      if (!ok.test(reply)) return reply;
    }
    return this.command(`${message}\r\n.`);
  }

  /** Waits until the server closes the connection (bounded). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.#closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
