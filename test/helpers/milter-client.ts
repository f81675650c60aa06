// A raw milter client for tests: speaks the binary protocol as Postfix's
// milter8 client does (version 6), exact bytes out, reply packets in, every
// wait bounded. The packet builders are written here from the protocol text
// (not taken from src/milter), so a framing mistake there shows up here.
import net from 'node:net';

/** Postfix 3.7's offer: every action, every protocol flag it knows (milter8.c, protocol 6). */
export const POSTFIX_ACTIONS = 0x1ff;
export const POSTFIX_PROTOCOL = 0x1fffff;

export interface MilterReply {
  /** The reply character: 'c' continue, 'a' accept, 'r' reject, 't' tempfail, 'y' replycode, 'h' addheader, 'O' optneg. */
  readonly kind: string;
  readonly data: Buffer;
}

export function frame(command: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out.writeUInt32BE(data.length + 1, 0);
  out.write(command, 4, 'latin1');
  data.copy(out, 5);
  return out;
}

const z = (...values: string[]): Buffer => Buffer.concat(values.flatMap((v) => [Buffer.from(v, 'utf8'), Buffer.from([0])]));

export const packets = {
  optneg(version = 6, actions = POSTFIX_ACTIONS, protocol = POSTFIX_PROTOCOL): Buffer {
    const data = Buffer.alloc(12);
    data.writeUInt32BE(version, 0);
    data.writeUInt32BE(actions, 4);
    data.writeUInt32BE(protocol, 8);
    return frame('O', data);
  },
  macro(command: string, macros: Readonly<Record<string, string>>): Buffer {
    return frame('D', Buffer.concat([Buffer.from(command, 'latin1'), z(...Object.entries(macros).flat())]));
  },
  connect(address: string, port = 40000, hostname = 'client.example.net', family = '4'): Buffer {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16BE(port);
    return frame('C', Buffer.concat([z(hostname), Buffer.from(family, 'latin1'), portBytes, z(address)]));
  },
  helo: (name: string): Buffer => frame('H', z(name)),
  mail: (...args: string[]): Buffer => frame('M', z(...args)),
  rcpt: (...args: string[]): Buffer => frame('R', z(...args)),
  data: (): Buffer => frame('T'),
  header: (name: string, value: string): Buffer => frame('L', z(name, value)),
  eoh: (): Buffer => frame('N'),
  body: (chunk: Buffer | string): Buffer => frame('B', Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1')),
  eob: (): Buffer => frame('E'),
  abort: (): Buffer => frame('A'),
  quit: (): Buffer => frame('Q'),
  quitNc: (): Buffer => frame('K'),
};

export class MilterClient {
  readonly #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  readonly #replies: MilterReply[] = [];
  readonly #waiters: Array<() => void> = [];
  #closed = false;
  readonly timeoutMs: number;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    this.timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 4) {
        const length = this.#buffer.readUInt32BE(0);
        if (this.#buffer.length < 4 + length) break;
        this.#replies.push({ kind: String.fromCharCode(this.#buffer[4] as number), data: this.#buffer.subarray(5, 4 + length) });
        this.#buffer = this.#buffer.subarray(4 + length);
      }
      this.#wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static connect(options: { port?: number; path?: string; timeoutMs?: number }): Promise<MilterClient> {
    return new Promise((resolve, reject) => {
      const socket = options.path !== undefined ? net.connect(options.path) : net.connect(options.port as number, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new MilterClient(socket, options.timeoutMs ?? 10_000));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  send(...bytes: Buffer[]): void {
    this.#socket.write(Buffer.concat(bytes));
  }

  /** The next reply packet, or null once the connection is closed. */
  async reply(): Promise<MilterReply | null> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const next = this.#replies.shift();
      if (next) return next;
      if (this.#closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no milter reply within ${this.timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends and returns the next reply. */
  async ask(bytes: Buffer): Promise<MilterReply | null> {
    this.send(bytes);
    return this.reply();
  }

  /** Resolves once the server has closed the connection (bounded). */
  async closedByServer(): Promise<void> {
    for (;;) {
      const next = await this.reply();
      if (next === null) return;
    }
  }

  /** Negotiates as Postfix does; returns the server's OPTNEG (version, actions, protocol). */
  async negotiate(): Promise<{ version: number; actions: number; protocol: number }> {
    const reply = await this.ask(packets.optneg());
    if (reply?.kind !== 'O') throw new Error(`expected OPTNEG, got ${reply?.kind}`);
    return { version: reply.data.readUInt32BE(0), actions: reply.data.readUInt32BE(4), protocol: reply.data.readUInt32BE(8) };
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** A reply as text: "c", "a", "y 550 5.7.1 text", "h X-Name: value". */
export function describe(reply: MilterReply | null): string {
  if (reply === null) return 'closed';
  if (reply.kind === 'y') return `y ${reply.data.toString('utf8').replace(/\0$/, '')}`;
  if (reply.kind === 'h') {
    const [name, value] = reply.data.toString('utf8').split('\0');
    return `h ${name}: ${value}`;
  }
  return reply.kind;
}
