// One outbound SMTP session over nodemailer's SMTPConnection: connect, EHLO,
// STARTTLS at the target's TLS level (Postfix's smtp_tls_security_level):
//   none           never STARTTLS;
//   opportunistic  STARTTLS when offered, any certificate (RFC 7435: better
//                  than clear text against passive listeners); a refused
//                  STARTTLS continues in clear (a failed handshake is retried
//                  in clear by deliver-job.ts, like Postfix's "may");
//   encrypt        TLS or nothing, the certificate is not checked;
//   verify         TLS or nothing, the chain must verify against the target's
//                  CA file (else Node's built-in Mozilla list) and the
//                  certificate must name the target's name (the configured
//                  smarthost/route host, or the MX host name).
// A failure at encrypt/verify is a DELIVERY_TLS error whose message says why
// ("TLS required (level verify) but certificate verification failed: ...");
// nothing is ever sent in clear at those levels.
// AUTH only over TLS (or on a route that says tls = "none"), then any number
// of transactions. send() never throws: every recipient gets an outcome.
// nodemailer's internals are reached only through nodemailer-seam.ts.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import type { Readable } from 'node:stream';
import type { TlsLevel } from '../config/schema.ts';
import { DeliveryError } from './errors.ts';
import { hopExtensions, type HopExtensions } from './esmtp-plan.ts';
import { coalesceBodyWrites, recipientRefusals, rewriteCommands, serverExtensions } from './nodemailer-seam.ts';
import { cleanReply, localDeferral, outcomeOfReply, type RecipientResult } from './smtp-reply.ts';

export type { TlsLevel };
/** The old name of TlsLevel. */
export type TlsMode = TlsLevel;

export interface SessionTarget {
  /** IP address or host name to connect to. */
  readonly host: string;
  readonly port: number;
  /** The name we looked up (MX exchange, route host): SNI, logs, and the name level "verify" matches. */
  readonly name?: string;
  readonly tls: TlsLevel;
  /** Level "verify": the CA certificates (PEM) trusted instead of the built-in list, and their file. */
  readonly ca?: { readonly file: string; readonly pem: string };
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
  /** REQUIRETLS was asked for and this server does not offer it: nothing was sent, the session is still usable. */
  readonly requireTlsNotOffered?: true;
}

export interface SendOptions extends TransactionParameters {
  /** RFC 8689: send MAIL FROM with REQUIRETLS; if the server does not offer it, nothing is sent (requireTlsNotOffered). */
  readonly requireTls?: boolean;
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
      requireTLS: tls === 'encrypt' || tls === 'verify',
      opportunisticTLS: tls === 'opportunistic',
      tls: tlsOptions(target, tls),
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
        reject(toDeliveryError(error, label, tls));
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
  send(sender: string, recipients: readonly string[], body: Buffer | Readable, size: number, options: SendOptions = {}): Promise<SendOutcome> {
    const parameters: TransactionParameters = options;
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
      const requireTls = options.requireTls ? { requireTLSExtensionEnabled: true } : {};
      this.#conn.send({ from: sender, to: [...recipients], size, use8BitMime: true, ...requireTls }, body, (error, info) => {
        this.#rewrite = undefined;
        if (error && (error as NodemailerError).code === 'EREQUIRETLS') {
          // nodemailer checks the EHLO reply before MAIL FROM: nothing went out.
          const reason = `REQUIRETLS (RFC 8689): ${label} does not offer REQUIRETLS, so the message may not be relayed through it`;
          const results = recipients.map((r) => ({ recipient: r, status: 'failed' as const, reply: reason, enhanced: '5.7.10', host: label }));
          resolve({ results, connectionLost: false, requireTlsNotOffered: true });
          return;
        }
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

/** The name a certificate must carry at level "verify": the MX or configured host name, without a final dot. */
export function peerName(target: Pick<SessionTarget, 'host' | 'name'>): string {
  return (target.name ?? target.host).replace(/\.$/, '').toLowerCase();
}

function tlsOptions(target: SessionTarget, level: TlsLevel): ConnectionOptions {
  const name = peerName(target);
  // SNI only for a name (RFC 6066 forbids addresses), and only for one we looked up.
  const sni = target.name !== undefined && isIP(name) === 0 ? { servername: name } : {};
  if (level !== 'verify') return { rejectUnauthorized: false, ...sni };
  return {
    ...sni,
    rejectUnauthorized: true,
    ...(target.ca ? { ca: target.ca.pem } : {}),
    // Match the name we chose, whatever nodemailer connects to (an MX's address).
    checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
  };
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

function toDeliveryError(error: NodemailerError, label: string, level: TlsLevel): DeliveryError {
  const reply = error.response ? cleanReply(error.response) : undefined;
  const message = `${label}: ${reply ?? error.message}`;
  if (level === 'encrypt' || level === 'verify') {
    const tlsError = requiredTlsError(error, label, level, reply);
    if (tlsError) return tlsError;
  }
  if (isTlsFailure(error)) return new DeliveryError('DELIVERY_TLS', message, { temporary: true, cause: error, ...(reply ? { reply } : {}) });
  if (error.code === 'EAUTH') return new DeliveryError('DELIVERY_AUTH', message, { temporary: true, cause: error, ...(reply ? { reply } : {}) });
  if (reply && error.responseCode) {
    return new DeliveryError('DELIVERY_REPLY', message, { temporary: error.responseCode < 500, cause: error, reply });
  }
  return new DeliveryError('DELIVERY_CONNECT', message, { temporary: true, cause: error });
}

/**
 * At encrypt/verify, why TLS could not be had, in words for `queue show` and
 * the delivery log: STARTTLS not offered (4.7.4, like Postfix's "TLS is
 * required, but was not offered"), the certificate refused (4.7.5), or the
 * handshake failed (4.7.5). Undefined for failures that are not TLS's.
 */
function requiredTlsError(error: NodemailerError, label: string, level: 'encrypt' | 'verify', reply: string | undefined): DeliveryError | undefined {
  const required = `TLS required (level ${level})`;
  // nodemailer sends STARTTLS at requireTLS even when it was not advertised: the refusal is the answer.
  if (error.code === 'ETLS' && error.command === 'STARTTLS' && reply) {
    return new DeliveryError('DELIVERY_TLS', `${required} but STARTTLS is not offered by ${label} (${reply})`, { temporary: true, enhanced: '4.7.4', cause: error, reply });
  }
  // Node 24 appends an advice to its own users ("; if the root CA is installed locally, try
  // running Node.js with --use-system-ca"): not the peer's fault, and not what an admin acts on.
  const detail = (error.message || String(error.code)).replace(/^Error initiating TLS - /, '').replace(/; if the root CA is installed locally.*$/s, '');
  if (CERTIFICATE_ERRORS.has(error.originalCode ?? '') || CERTIFICATE_ERRORS.has(error.code ?? '')) {
    return new DeliveryError('DELIVERY_TLS', `${required} but certificate verification failed: ${detail} (host ${label})`, { temporary: true, enhanced: '4.7.5', cause: error });
  }
  if (isTlsFailure(error) || error.command === 'STARTTLS') {
    return new DeliveryError('DELIVERY_TLS', `${required} but the TLS handshake failed: ${detail} (host ${label})`, { temporary: true, enhanced: '4.7.5', cause: error });
  }
  return undefined;
}

/** What Node (OpenSSL's X509_V_ERR_* names, and its own name check) says when it refuses a certificate. */
const CERTIFICATE_ERRORS = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/** A handshake failure surfaces as ETLS, or as a socket error raised by OpenSSL. */
function isTlsFailure(error: NodemailerError): boolean {
  if (error.code === 'ETLS') return true;
  const code = error.originalCode ?? '';
  return /^ERR_(SSL|TLS)_/.test(code) || CERTIFICATE_ERRORS.has(code) || error.library === 'SSL routines' || /SSL routines/.test(error.message);
}
