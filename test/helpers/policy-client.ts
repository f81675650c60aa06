// A raw Postfix policy delegation client for tests (SMTPD_POLICY_README):
// exact bytes out, answers ("action=..." blocks ending in an empty line) in,
// every wait bounded. `request()` builds a request as Postfix 3.x sends it.
import net from 'node:net';

export type Attributes = Readonly<Record<string, string | number>>;

/** A request as Postfix's smtpd sends it, with `overrides` on top (undefined drops a name). */
export function postfixRequest(overrides: Readonly<Record<string, string | number | undefined>> = {}): string {
  const base: Record<string, string | number | undefined> = {
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    client_name: 'client.example.net',
    client_port: 40000,
    reverse_client_name: 'client.example.net',
    server_address: '127.0.0.1',
    server_port: 25,
    helo_name: 'client.example.net',
    sender: 'alice@sender.example',
    recipient: 'bob@example.test',
    recipient_count: 0,
    queue_id: '',
    instance: 'a1b.6f2e1d00.1a2b3.0',
    size: 0,
    etrn_domain: '',
    stress: '',
    sasl_method: '',
    sasl_username: '',
    sasl_sender: '',
    ccert_subject: '',
    ccert_issuer: '',
    ccert_fingerprint: '',
    encryption_protocol: '',
    encryption_cipher: '',
    encryption_keysize: 0,
    policy_context: '',
    compatibility_level: '3.6',
    mail_version: '3.7.11',
    ...overrides,
  };
  return `${Object.entries(base)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}`)
    .join('\n')}\n\n`;
}

export class PolicyClient {
  readonly #socket: net.Socket;
  #buffer = '';
  readonly #answers: string[] = [];
  readonly #waiters: Array<(answer: string | null) => void> = [];
  #closed = false;
  readonly timeoutMs: number;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    this.timeoutMs = timeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let end = this.#buffer.indexOf('\n\n'); end !== -1; end = this.#buffer.indexOf('\n\n')) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const waiter = this.#waiters.shift();
        if (waiter) waiter(block);
        else this.#answers.push(block);
      }
    });
    socket.on('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) waiter(null);
    });
    socket.on('error', () => undefined);
  }

  static connect(target: { port: number; host?: string } | { path: string }, timeoutMs = 20_000): Promise<PolicyClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1');
      socket.once('connect', () => resolve(new PolicyClient(socket, timeoutMs)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(text: string | Buffer): void {
    this.#socket.write(text);
  }

  /** The next answer block ("action=..."), or null when the server closed the connection. */
  read(): Promise<string | null> {
    const ready = this.#answers.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no policy answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.#waiters.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  }

  /** Sends one request and returns its action (the text after "action="). */
  async ask(overrides: Readonly<Record<string, string | number | undefined>> = {}): Promise<string | null> {
    this.write(postfixRequest(overrides));
    const answer = await this.read();
    return answer === null ? null : actionOf(answer);
  }

  /** Resolves once the server has closed the connection (bounded). */
  async closedByServer(): Promise<boolean> {
    if (this.#closed) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.timeoutMs);
      this.#socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

export function actionOf(block: string): string {
  if (!block.startsWith('action=') || block.includes('\n')) throw new Error(`not one action line: ${JSON.stringify(block)}`);
  return block.slice('action='.length);
}
