// A raw line-level SMTP client for protocol tests: exact bytes out, whole
// replies (multi-line joined) in. Use `localAddress` to play a client from
// another 127.x address. Every wait is bounded by a timeout.
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReply {
  readonly code: number;
  readonly lines: string[];
  readonly text: string;
}

export class SmtpTalk {
  #socket: net.Socket | tls.TLSSocket;
  #buffer = '';
  #replies: SmtpReply[] = [];
  #waiters: Array<(reply: SmtpReply | null) => void> = [];
  #closed = false;
  readonly timeoutMs: number;

  private constructor(socket: net.Socket | tls.TLSSocket, timeoutMs: number) {
    this.#socket = socket;
    this.timeoutMs = timeoutMs;
    this.#attach(socket);
  }

  static async connect(options: { port: number; host?: string; localAddress?: string; tls?: boolean; timeoutMs?: number; preamble?: Buffer }): Promise<SmtpTalk> {
    const host = options.host ?? '127.0.0.1';
    const socket = await new Promise<net.Socket | tls.TLSSocket>((resolve, reject) => {
      const base = { host, port: options.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) };
      if (options.tls && !options.preamble) {
        const s = tls.connect({ ...base, rejectUnauthorized: false }, () => resolve(s));
        s.once('error', reject);
      } else {
        const s = net.connect(base, () => {
          if (options.preamble) s.write(options.preamble);
          if (options.tls) {
            const secure = tls.connect({ socket: s, rejectUnauthorized: false }, () => resolve(secure));
            secure.once('error', reject);
          } else {
            resolve(s);
          }
        });
        s.once('error', reject);
      }
    });
    return new SmtpTalk(socket, options.timeoutMs ?? 5000);
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) waiter(null);
    });
    socket.on('error', () => undefined);
  }

  #pending: string[] = [];

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let index: number;
    while ((index = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, index);
      this.#buffer = this.#buffer.slice(index + 2);
      this.#pending.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        const lines = this.#pending.splice(0);
        const reply = { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
        const waiter = this.#waiters.shift();
        if (waiter) waiter(reply);
        else this.#replies.push(reply);
      }
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next whole reply, or null if the server closed the connection. */
  read(): Promise<SmtpReply | null> {
    const ready = this.#replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.#waiters.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  /** Sends one command line (CRLF added) and reads the reply. */
  async command(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    const reply = await this.read();
    if (!reply) throw new Error(`connection closed after ${line}`);
    return reply;
  }

  /** STARTTLS and the TLS handshake on the same socket. */
  async starttls(): Promise<SmtpReply> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
    return reply;
  }

  close(): void {
    this.#socket.destroy();
  }
}
