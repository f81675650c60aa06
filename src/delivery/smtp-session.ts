// One outbound SMTP session over nodemailer's SMTPConnection: connect, EHLO,
// STARTTLS as the route asks (opportunistic: self-signed certificates are
// fine and a refused STARTTLS continues in clear; required: TLS or nothing),
// AUTH only over TLS (or on a route that says tls = "none"), then any number
// of transactions. send() never throws: every recipient gets an outcome.
// nodemailer's internals are reached only through nodemailer-seam.ts.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Readable } from 'node:stream';
import { DeliveryError } from './errors.ts';
import { hopExtensions, type HopExtensions } from './esmtp-plan.ts';
import { coalesceBodyWrites, recipientRefusals, rewriteCommands, serverExtensions } from './nodemailer-seam.ts';
import { cleanReply, localDeferral, outcomeOfReply, type RecipientResult } from './smtp-reply.ts';

export type TlsMode = 'none' | 'opportunistic' | 'required';

export interface SessionTarget {
  /** IP address or host name to connect to. */
  readonly host: string;
  readonly port: number;
  /** The name we looked up (MX exchange, route host): SNI and logs. */
  readonly name?: string;
  readonly tls: TlsMode;
  readonly auth?: { readonly user: string; readonly pass: string };
}

export interface SessionSettings {
  readonly heloName: string;
  readonly connectTimeout: number;
  readonly commandTimeout: number;
  /** Do not try STARTTLS (a remembered TLS failure on an opportunistic route). */
  readonly skipTls?: boolean;
}

/** What a transaction adds to nodemailer's own MAIL FROM and RCPT TO commands (esmtp-plan.ts). */
export interface TransactionParameters {
  /** Added to MAIL FROM (a keyword nodemailer already wrote is not repeated). */
  readonly mail?: readonly string[];
  /** Added to RCPT TO, by recipient as sent (" NOTIFY=... ORCPT=..."). */
  readonly rcpt?: ReadonlyMap<string, string>;
}

export interface SendOutcome {
  readonly results: RecipientResult[];
  /** The connection died without a reply to this transaction (a reused one may have timed out). */
  readonly connectionLost: boolean;
}

type NodemailerError = Error & {
  code?: string;
  originalCode?: string;
  library?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: NodemailerError[];
};

export function describeHost(target: Pick<SessionTarget, 'host' | 'port' | 'name'>): string {
  const name = target.name && target.name !== target.host ? target.name : target.host;
  return `${name}[${target.host}]:${target.port}`;
}

export class SmtpSession {
  readonly target: SessionTarget;
  readonly label: string;
  readonly #conn: SMTPConnection;
  #closed = false;
  #messages = 0;
  #rewrite: ((command: string) => string) | undefined;
  #extensions: HopExtensions | undefined;
  readonly openedAt = Date.now();

  private constructor(target: SessionTarget, conn: SMTPConnection) {
    this.target = target;
    this.label = describeHost(target);
    this.#conn = conn;
    conn.on('end', () => {
      this.#closed = true;
    });
    conn.on('error', () => {
      this.#closed = true;
    });
    coalesceBodyWrites(conn);
    rewriteCommands(conn, () => this.#rewrite);
  }

  /** What the server offered in its EHLO reply that decides how a message is sent (nothing, if unknown). */
  get extensions(): HopExtensions {
    // Read once: the EHLO (after STARTTLS, if any) is over by the time open() resolves.
    this.#extensions ??= hopExtensions(serverExtensions(this.#conn) ?? []);
    return this.#extensions;
  }

  get secure(): boolean {
    return this.#conn.secure;
  }

  get usable(): boolean {
    return !this.#closed && !this.#conn.destroyed;
  }

  get messages(): number {
    return this.#messages;
  }

  /** Connects and greets; rejects with a DeliveryError saying whether TLS was the problem. */
  static open(target: SessionTarget, settings: SessionSettings): Promise<SmtpSession> {
    const tls = settings.skipTls && target.tls === 'opportunistic' ? 'none' : target.tls;
    const conn = new SMTPConnection({
      host: target.host,
      port: target.port,
      name: settings.heloName,
      connectionTimeout: settings.connectTimeout,
      greetingTimeout: settings.connectTimeout,
      socketTimeout: settings.commandTimeout,
      ignoreTLS: tls === 'none',
      requireTLS: tls === 'required',
      opportunisticTLS: tls === 'opportunistic',
      // Opportunistic TLS protects against passive listeners only; an unverifiable
      // certificate is better than plain text (RFC 7435). "required" means encrypted,
      // like Postfix's "encrypt" level; certificates are not verified either.
      tls: { rejectUnauthorized: false, ...(target.name && !/^[\d.:]+$/.test(target.name) ? { servername: target.name } : {}) },
      allowInternalNetworkInterfaces: true,
      socketCloseTimeout: 1000,
      logger: false,
    });
    const label = describeHost(target);
    return new Promise<SmtpSession>((resolve, reject) => {
      let settled = false;
      const fail = (error: NodemailerError) => {
        if (settled) return;
        settled = true;
        conn.close();
        reject(toDeliveryError(error, label));
      };
      conn.once('error', fail);
      conn.connect((error) => {
        if (error) return fail(error as NodemailerError);
        if (settled) return;
        const session = new SmtpSession(target, conn);
        conn.removeListener('error', fail);
        if (!target.auth) {
          settled = true;
          return resolve(session);
        }
        if (!conn.secure && tls !== 'none') {
          // Never send a password in clear on a route that wanted TLS.
          return fail(Object.assign(new Error('TLS could not be negotiated, AUTH not attempted'), { code: 'ETLS' }));
        }
        conn.once('error', fail);
        conn.login({ user: target.auth.user, pass: target.auth.pass }, (loginError) => {
          if (loginError) return fail(loginError as NodemailerError);
          conn.removeListener('error', fail);
          settled = true;
          resolve(session);
        });
      });
    });
  }

  /** One transaction. `body` is the message as stored (CRLF lines); dot-stuffing is done here. */
  send(sender: string, recipients: readonly string[], body: Buffer | Readable, size: number, parameters: TransactionParameters = {}): Promise<SendOutcome> {
    const label = this.label;
    this.#rewrite = parameters.mail?.length || parameters.rcpt?.size ? (command) => withParameters(command, parameters) : undefined;
    return new Promise<SendOutcome>((resolve) => {
      if (!this.usable) {
        resolve({ results: recipients.map((r) => localDeferral(r, `connection to ${label} closed`, '4.4.2', label)), connectionLost: true });
        return;
      }
      this.#messages++;
      // BODY=8BITMIME whenever the server offers it: we relay bytes as received, and
      // declaring it for a 7-bit message is harmless (RFC 6152).
      this.#conn.send({ from: sender, to: [...recipients], size, use8BitMime: true }, body, (error, info) => {
        this.#rewrite = undefined;
        if (!error && info) {
          const accepted = new Set(info.accepted);
          const results: RecipientResult[] = [];
          const rejected = new Map<string, NodemailerError>();
          for (const rejectedError of (info.rejectedErrors ?? []) as NodemailerError[]) {
            if (rejectedError.recipient) rejected.set(rejectedError.recipient, rejectedError);
          }
          for (const rcpt of recipients) {
            if (accepted.has(rcpt)) results.push(outcomeOfReply(rcpt, info.response, label));
            else results.push(outcomeOfReply(rcpt, rejected.get(rcpt)?.response ?? '451 4.3.0 no reply for recipient', label));
          }
          resolve({ results, connectionLost: false });
          return;
        }
        resolve(this.#failedSend(error as NodemailerError, recipients));
      });
    });
  }

  #failedSend(error: NodemailerError, recipients: readonly string[]): SendOutcome {
    const label = this.label;
    if (!error.responseCode) {
      // No reply at all: connection-level, every recipient is deferred.
      this.#closed = true;
      this.#conn.close();
      const reason = `${label}: ${error.message}`;
      return { results: recipients.map((r) => localDeferral(r, reason, error.code === 'ETIMEDOUT' ? '4.4.2' : '4.4.1', label)), connectionLost: true };
    }
    // Replies recorded per recipient at RCPT time win over the transaction-level reply.
    const perRecipient = new Map<string, string>();
    // After a refused MAIL FROM the RCPT replies (503 bad sequence) say nothing about recipients.
    const rcptErrors = error.command === 'MAIL FROM' ? [] : (error.rejectedErrors ?? recipientRefusals(this.#conn) ?? []);
    for (const rejectedError of rcptErrors) {
      if (rejectedError.recipient && rejectedError.response) perRecipient.set(rejectedError.recipient, rejectedError.response);
    }
    const reply = error.response ?? `${error.responseCode} ${error.message}`;
    const results = recipients.map((r) => outcomeOfReply(r, perRecipient.get(r) ?? reply, label));
    if (error.responseCode === 421 || !this.usable) {
      this.close();
    } else {
      // The server refused this transaction but the session is fine: reset it for the next one.
      this.#conn.reset((resetError) => {
        if (resetError) this.close();
      });
    }
    return { results, connectionLost: false };
  }

  quit(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.quit();
  }

  close(): void {
    this.#closed = true;
    this.#conn.close();
  }
}

function withParameters(command: string, parameters: TransactionParameters): string {
  if (/^MAIL FROM:/i.test(command)) {
    const present = new Set(command.split(' ').slice(2).map((p) => p.split('=')[0]?.toUpperCase()));
    const extra = (parameters.mail ?? []).filter((p) => !present.has(p.split('=')[0]?.toUpperCase()));
    return extra.length > 0 ? `${command} ${extra.join(' ')}` : command;
  }
  const rcpt = /^RCPT TO:<(.*)>$/i.exec(command);
  if (rcpt) return command + (parameters.rcpt?.get(rcpt[1] as string) ?? '');
  return command;
}

function toDeliveryError(error: NodemailerError, label: string): DeliveryError {
  const reply = error.response ? cleanReply(error.response) : undefined;
  const message = `${label}: ${reply ?? error.message}`;
  if (isTlsFailure(error)) return new DeliveryError('DELIVERY_TLS', message, { temporary: true, cause: error, ...(reply ? { reply } : {}) });
  if (error.code === 'EAUTH') return new DeliveryError('DELIVERY_AUTH', message, { temporary: true, cause: error, ...(reply ? { reply } : {}) });
  if (reply && error.responseCode) {
    return new DeliveryError('DELIVERY_REPLY', message, { temporary: error.responseCode < 500, cause: error, reply });
  }
  return new DeliveryError('DELIVERY_CONNECT', message, { temporary: true, cause: error });
}

/** A handshake failure surfaces as ETLS, or as a socket error raised by OpenSSL. */
function isTlsFailure(error: NodemailerError): boolean {
  if (error.code === 'ETLS') return true;
  const code = error.originalCode ?? '';
  return /^ERR_(SSL|TLS)_/.test(code) || error.library === 'SSL routines' || /SSL routines/.test(error.message);
}
