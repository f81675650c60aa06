// A recording upstream SMTP server for delivery tests, built on smtp-server:
// records the envelope and the raw bytes of every message it accepts; can be
// told to answer per recipient (4xx/5xx), to answer the greeting or the end
// of DATA with an error, to offer STARTTLS (its built-in self-signed
// certificate, or one given) and AUTH, or to be down (listener closed: connection refused)
// and come back on the same address and port.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { WAIT_SCALE } from './wait-for.ts';
import { listenOnStablePort } from './stable-port.ts';

export interface SinkMessage {
  readonly from: string;
  readonly to: string[];
  readonly raw: Buffer;
  readonly secure: boolean;
  /** MAIL FROM carried REQUIRETLS (RFC 8689). */
  readonly requireTls: boolean;
  readonly user?: string;
  readonly remoteAddress: string;
  /** MAIL FROM parameters as smtp-server parsed them (e.g. { BODY: '8BITMIME', SMTPUTF8: true }). */
  readonly mailArgs: Record<string, unknown>;
  /** RCPT TO parameters, one object per recipient. */
  readonly rcptArgs: Record<string, unknown>[];
  /** smtp-server's envelope.dsn (RET, ENVID) and each recipient's dsn (NOTIFY, ORCPT). */
  readonly dsn: unknown;
  readonly rcptDsn: unknown[];
}

export interface SinkOptions {
  /** 127.x address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 0: ephemeral). */
  readonly port?: number;
  /** Offer STARTTLS (default true). */
  readonly starttls?: boolean;
  /** Require AUTH with this user and password. */
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Offer STARTTLS but fail every handshake (TLS 1.1 at most; clients want 1.2+). */
  readonly brokenTls?: boolean;
  /** The certificate STARTTLS presents (PEM; default smtp-server's built-in self-signed one). */
  readonly certificate?: { readonly key: string; readonly cert: string };
  /** Offer REQUIRETLS after STARTTLS (RFC 8689; smtp-server does not by default). */
  readonly offerRequireTls?: boolean;
  /** Extensions not to offer (smtp-server's hide* options). */
  readonly hide?: readonly ('SMTPUTF8' | '8BITMIME' | 'PIPELINING')[];
  /** Offer DSN (smtp-server hides it by default). */
  readonly dsn?: boolean;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** "host:port" for config. */
  readonly address: string;
  readonly messages: SinkMessage[];
  /** Every command line the clients sent, as received (for the bytes of MAIL FROM / RCPT TO). */
  readonly commands: string[];
  /** Connections seen (including refused-at-greeting ones). */
  connections: number;
  /** Reply for one recipient, e.g. "450 4.2.0 mailbox busy"; undefined = accept. */
  rcptReply(recipient: string, reply: string | undefined): void;
  /** Every RCPT TO seen, with its transaction's sender ('' for the null sender <>: recipient probes). */
  readonly rcpts: Array<{ readonly from: string; readonly to: string }>;
  /** Never answer RCPT TO for this recipient (an upstream that hangs); false = answer again, the held ones too. */
  rcptHang(recipient: string, hang: boolean): void;
  /** Reply at connect (e.g. "421 4.3.2 try later"); undefined = normal greeting. */
  greetingReply(reply: string | undefined): void;
  /** Reply at the end of DATA; undefined = accept. */
  dataReply(reply: string | undefined): void;
  /** Wait this long before answering the end of DATA (a slow upstream). */
  dataDelay(ms: number): void;
  /** Close the listener: clients get connection refused. */
  down(): Promise<void>;
  /** Listen again on the same host and port. */
  up(): Promise<void>;
  /** Resolves when `count` messages have arrived (bounded by timeoutMs). */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function smtpError(reply: string): Error {
  const match = /^(\d{3})\s+(.*)$/s.exec(reply);
  const error = new Error(match ? match[2] : reply) as Error & { responseCode: number };
  error.responseCode = match ? Number(match[1]) : 451;
  return error;
}

export async function startSmtpSink(options: SinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const messages: SinkMessage[] = [];
  const commands: string[] = [];
  const ignore = () => undefined;
  // smtp-server logs every command line at debug level: record them, print nothing.
  const recorder = {
    trace: ignore,
    info: ignore,
    warn: ignore,
    error: ignore,
    fatal: ignore,
    debug(meta: { tnx?: string } | undefined, _format: string, line?: unknown) {
      if (meta?.tnx === 'command' && typeof line === 'string') commands.push(line);
    },
  };
  const rcptReplies = new Map<string, string>();
  const rcpts: Array<{ from: string; to: string }> = [];
  const hanging = new Set<string>();
  const held: Array<{ to: string; answer: () => void }> = [];
  let greeting: string | undefined;
  let dataReply: string | undefined;
  let dataDelayMs = 0;
  const waiters = new Set<() => void>();

  const serverOptions: SMTPServerOptions = {
    name: `sink.${host}`,
    logger: recorder as unknown as SMTPServerOptions['logger'],
    disabledCommands: [...(options.starttls === false ? ['STARTTLS'] : []), ...(options.auth ? [] : ['AUTH'])],
    allowInsecureAuth: true,
    authOptional: !options.auth,
    size: 64 * 1024 * 1024,
    closeTimeout: 100,
    ...Object.fromEntries((options.hide ?? []).map((keyword) => [`hide${keyword}`, true])),
    ...(options.dsn ? { hideDSN: false } : {}),
    ...(options.brokenTls ? { minVersion: 'TLSv1' as const, maxVersion: 'TLSv1.1' as const } : {}),
    ...(options.certificate ? { key: options.certificate.key, cert: options.certificate.cert } : {}),
    ...(options.offerRequireTls ? { hideREQUIRETLS: false } : {}),
    onConnect(_session, callback) {
      sink.connections++;
      callback(greeting ? smtpError(greeting) : null);
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(smtpError('535 5.7.8 bad credentials'));
      }
    },
    onRcptTo(address, session, callback) {
      rcpts.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: address.address });
      const answer = () => {
        const reply = rcptReplies.get(address.address);
        callback(reply ? smtpError(reply) : null);
      };
      if (hanging.has(address.address)) held.push({ to: address.address, answer });
      else answer();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => setTimeout(finish, dataDelayMs));
      const finish = () => {
        if (dataReply) return callback(smtpError(dataReply));
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          secure: session.secure,
          requireTls: session.envelope.requireTLS === true,
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
          remoteAddress: session.remoteAddress,
          mailArgs: (session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {},
          rcptArgs: session.envelope.rcptTo.map((r) => r.args || {}),
          dsn: (session.envelope as unknown as { dsn?: unknown }).dsn,
          rcptDsn: session.envelope.rcptTo.map((r) => (r as unknown as { dsn?: unknown }).dsn),
        });
        for (const waiter of waiters) waiter();
        callback(null);
      };
    },
  };

  let server = new SMTPServer(serverOptions);
  server.on('error', () => undefined);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, host, () => {
        server.server.removeListener('error', reject);
        resolve((server.server.address() as { port: number }).port);
      });
    });
  // A sink may go down() and come back up(): its port must not be one the kernel hands out meanwhile.
  const port = options.port !== undefined ? await listen(options.port) : await listenOnStablePort(listen);
  let listening = true;

  const closeServer = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      server.close(() => resolve());
    });

  const sink: SmtpSink = {
    host,
    port,
    address: `${host}:${port}`,
    messages,
    commands,
    rcpts,
    rcptHang(recipient, hang) {
      if (hang) return void hanging.add(recipient);
      hanging.delete(recipient);
      // Answer what was held, in order.
      for (let i = 0; i < held.length; ) {
        const entry = held[i] as { to: string; answer: () => void };
        if (entry.to !== recipient) i++;
        else {
          held.splice(i, 1);
          entry.answer();
        }
      }
    },
    connections: 0,
    rcptReply: (recipient, reply) => void (reply === undefined ? rcptReplies.delete(recipient) : rcptReplies.set(recipient, reply)),
    greetingReply: (reply) => void (greeting = reply),
    dataReply: (reply) => void (dataReply = reply),
    dataDelay: (ms) => void (dataDelayMs = ms),
    down: closeServer,
    async up() {
      if (listening) return;
      server = new SMTPServer(serverOptions);
      server.on('error', () => undefined);
      await listen(port);
      listening = true;
    },
    waitFor(count, bound = 10_000) {
      if (messages.length >= count) return Promise.resolve();
      const timeoutMs = bound * WAIT_SCALE;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`sink ${host}:${port}: ${messages.length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    close: closeServer,
  };
  return sink;
}

/** Sinks on several loopback addresses sharing one port (for MX tests with one mx_port). */
export async function startSinksOnOnePort(hosts: readonly string[], options: Omit<SinkOptions, 'host' | 'port'> = {}): Promise<SmtpSink[]> {
  for (let tries = 0; tries < 10; tries++) {
    const first = await startSmtpSink({ ...options, host: hosts[0] as string });
    const sinks = [first];
    try {
      for (const host of hosts.slice(1)) sinks.push(await startSmtpSink({ ...options, host, port: first.port }));
      return sinks;
    } catch {
      await Promise.all(sinks.map((s) => s.close()));
    }
  }
  throw new Error('could not bind sinks on one shared port');
}
