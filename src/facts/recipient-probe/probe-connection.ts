// One SMTP client connection used only for recipient probes: greeting, EHLO,
// STARTTLS as the next hop's tls setting asks, AUTH PLAIN when the route has
// credentials (only over TLS, or on a route with tls = "none"), then any
// number of MAIL FROM:<> / RCPT TO:<x> / RSET rounds. Never DATA. A small
// client of its own rather than nodemailer's SMTPConnection: that class has no
// public way to stop after RCPT (its send() always goes on to DATA), and
// reaching into its private command queue would be a second seam for a
// dozen lines of protocol. Strictly one command at a time (no pipelining),
// so a reply always belongs to the last command sent.
import net from 'node:net';
import tls from 'node:tls';

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

export interface ProbeConnectionOptions {
  /** Our EHLO name. */
  readonly heloName: string;
  /** 'none': never STARTTLS; 'opportunistic': when offered; anything else: STARTTLS must succeed. */
  readonly tls: string;
  readonly auth?: { readonly user: string; readonly pass: string } | undefined;
  /** Connect, greeting and each command's reply. */
  readonly commandTimeout: number;
}

export interface SmtpReply {
  readonly code: number;
  /** Every line joined with " / ", without CR/LF. */
  readonly text: string;
}

export class ProbeError extends Error {
  readonly code: 'PROBE_CONNECT' | 'PROBE_TIMEOUT' | 'PROBE_CLOSED' | 'PROBE_TLS' | 'PROBE_REFUSED';
  constructor(code: ProbeError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const MAX_REPLY = 8192;

export class ProbeConnection {
  readonly target: ProbeTarget;
  #socket: net.Socket;
  #lines: string[] = [];
  #partial = '';
  #replies: SmtpReply[] = [];
  #waiter: { resolve: (reply: SmtpReply) => void; reject: (error: Error) => void } | undefined;
  #closed = false;
  #closeReason = 'connection closed';
  readonly #timeout: number;

  private constructor(target: ProbeTarget, socket: net.Socket, timeout: number) {
    this.target = target;
    this.#timeout = timeout;
    this.#socket = socket;
    this.#attach(socket);
  }

  get usable(): boolean {
    return !this.#closed && !this.#socket.destroyed;
  }

  /** Connects, reads the greeting and says EHLO (STARTTLS and AUTH as asked). */
  static async open(target: ProbeTarget, options: ProbeConnectionOptions): Promise<ProbeConnection> {
    const socket = await connectSocket(target, options.commandTimeout);
    const conn = new ProbeConnection(target, socket, options.commandTimeout);
    try {
      const greeting = await conn.#read();
      if (greeting.code !== 220) throw new ProbeError('PROBE_REFUSED', `greeting: ${greeting.code} ${greeting.text}`);
      let ehlo = await conn.command(`EHLO ${options.heloName}`);
      if (ehlo.code !== 250) throw new ProbeError('PROBE_REFUSED', `EHLO: ${ehlo.code} ${ehlo.text}`);
      const offersTls = ehlo.text.split(' / ').some((line) => line.trim().toUpperCase() === 'STARTTLS');
      if (options.tls !== 'none' && (offersTls || options.tls !== 'opportunistic')) {
        if (!offersTls) throw new ProbeError('PROBE_TLS', 'STARTTLS required but not offered');
        const ready = await conn.command('STARTTLS');
        if (ready.code !== 220) throw new ProbeError('PROBE_TLS', `STARTTLS: ${ready.code} ${ready.text}`);
        await conn.#upgrade(options);
        ehlo = await conn.command(`EHLO ${options.heloName}`);
        if (ehlo.code !== 250) throw new ProbeError('PROBE_REFUSED', `EHLO: ${ehlo.code} ${ehlo.text}`);
      }
      if (options.auth) {
        if (!(conn.#socket instanceof tls.TLSSocket) && options.tls !== 'none') throw new ProbeError('PROBE_TLS', 'TLS could not be negotiated, AUTH not attempted');
        const token = Buffer.from(`\u0000${options.auth.user}\u0000${options.auth.pass}`).toString('base64');
        const authed = await conn.command(`AUTH PLAIN ${token}`);
        if (authed.code !== 235) throw new ProbeError('PROBE_REFUSED', `AUTH: ${authed.code} ${authed.text}`);
      }
      return conn;
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Sends one command line and reads its reply. */
  command(line: string): Promise<SmtpReply> {
    if (!this.usable) return Promise.reject(new ProbeError('PROBE_CLOSED', this.#closeReason));
    this.#socket.write(`${line}\r\n`);
    return this.#read();
  }

  /** QUIT politely; the socket is closed once the 221 arrives (or soon after). */
  quit(): void {
    if (!this.usable) return;
    this.command('QUIT').catch(() => undefined).finally(() => this.close());
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', this.#onData);
    socket.on('error', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  #detach(socket: net.Socket): void {
    socket.removeListener('data', this.#onData);
    socket.removeListener('error', this.#onEnd);
    socket.removeListener('close', this.#onEnd);
  }

  readonly #onData = (chunk: string): void => {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > MAX_REPLY) return this.#fail('reply line too long');
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      this.#lines.push(line);
      if (/^\d{3}-/.test(line)) {
        if (this.#lines.length > 100) return this.#fail('reply too long');
        continue;
      }
      const code = /^(\d{3})(?: |$)/.exec(line);
      const reply: SmtpReply = code
        ? { code: Number(code[1]), text: this.#lines.map((l) => l.slice(4)).join(' / ') }
        : { code: 0, text: line.slice(0, 200) };
      this.#lines = [];
      if (!code) return this.#fail(`unreadable reply "${reply.text}"`);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter) waiter.resolve(reply);
      // A 421 nobody asked for: the server is closing this idle connection (shutdown, idle timeout).
      else if (reply.code === 421) return this.#fail(`${reply.code} ${reply.text}`);
      else this.#replies.push(reply);
    }
  };

  readonly #onEnd = (error?: Error | boolean): void => {
    this.#fail(error instanceof Error ? error.message : 'connection closed by the next hop');
  };

  #fail(reason: string): void {
    if (!this.#closed) this.#closeReason = reason;
    this.#closed = true;
    this.#socket.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(new ProbeError('PROBE_CLOSED', this.#closeReason));
  }

  #read(): Promise<SmtpReply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (!this.usable) return Promise.reject(new ProbeError('PROBE_CLOSED', this.#closeReason));
    return new Promise<SmtpReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        this.#fail(`no reply within ${this.#timeout} ms`);
        reject(new ProbeError('PROBE_TIMEOUT', `no reply within ${this.#timeout} ms`));
      }, this.#timeout);
      timer.unref();
      this.#waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  async #upgrade(options: ProbeConnectionOptions): Promise<void> {
    const plain = this.#socket;
    this.#detach(plain);
    const verify = options.tls === 'verify';
    const servername = net.isIP(this.target.host) ? undefined : this.target.host;
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ socket: plain, rejectUnauthorized: verify, ...(servername ? { servername } : {}) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ProbeError('PROBE_TLS', 'TLS handshake timed out'));
      }, this.#timeout);
      timer.unref();
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new ProbeError('PROBE_TLS', `TLS handshake: ${error.message}`));
      });
    }).catch((error: unknown) => {
      this.#closed = true;
      plain.destroy();
      throw error;
    });
    this.#socket = secure;
    this.#attach(secure);
  }
}

function connectSocket(target: ProbeTarget, timeout: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError('PROBE_TIMEOUT', `connect to ${target.host}:${target.port} timed out`));
    }, timeout);
    timer.unref();
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new ProbeError('PROBE_CONNECT', `connect to ${target.host}:${target.port}: ${error.message}`));
    });
  });
}
