// Clients for the end-to-end AUTH and DNSBL tests: nodemailer (a real TLS
// mail client) submitting through the relay, and raw SASL lines for
// test/helpers/smtp-talk.ts. Nothing here decides or fakes an answer.
import nodemailer from 'nodemailer';
import { SmtpTalk, type SmtpReply } from './smtp-talk.ts';

export interface Submission {
  readonly port: number;
  /** Implicit TLS (submissions) instead of STARTTLS. */
  readonly implicitTls?: boolean;
  readonly user?: string;
  readonly pass?: string;
  readonly method?: 'PLAIN' | 'LOGIN';
  readonly from: string;
  readonly to: readonly string[];
  readonly subject?: string;
  readonly localAddress?: string;
}

export interface SubmitOutcome {
  readonly ok: boolean;
  /** The server's last reply line (e.g. "250 2.0.0 Ok: queued as ..." or "535 5.7.8 ..."). */
  readonly response: string;
  readonly code?: number;
  /** nodemailer's error code (EAUTH, EENVELOPE, ...) on failure. */
  readonly errorCode?: string;
}

/** Sends one message with nodemailer, TLS required, AUTH when a user is given. Never throws for SMTP refusals. */
export async function submit(options: Submission): Promise<SubmitOutcome> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: options.port,
    secure: options.implicitTls === true,
    requireTLS: options.implicitTls !== true,
    tls: { rejectUnauthorized: false },
    name: 'client.test',
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.user !== undefined ? { auth: { user: options.user, pass: options.pass ?? '' } } : {}),
    ...(options.method ? { authMethod: options.method } : {}),
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10_000,
  });
  const subject = options.subject ?? 'e2e';
  try {
    const info = await transport.sendMail({
      envelope: { from: options.from, to: [...options.to] },
      raw: `From: ${options.from}\r\nTo: ${options.to.join(', ')}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}.${Date.now()}@client.test>\r\n\r\nhello\r\n`,
    });
    return { ok: true, response: info.response, code: Number(info.response.slice(0, 3)) };
  } catch (error) {
    const e = error as { response?: string; responseCode?: number; code?: string; message: string };
    return {
      ok: false,
      response: e.response ?? e.message,
      ...(e.responseCode !== undefined ? { code: e.responseCode } : {}),
      ...(e.code !== undefined ? { errorCode: e.code } : {}),
    };
  } finally {
    transport.close();
  }
}

/** "AUTH PLAIN <base64>" with an initial response (RFC 4616: authzid NUL authcid NUL passwd). */
export function authPlainLine(user: string, pass: string): string {
  return `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`, 'utf8').toString('base64')}`;
}

/** Opens a session and says EHLO; `tls: true` connects with implicit TLS, 'starttls' upgrades first. */
export async function openSession(port: number, tls: boolean | 'starttls', localAddress?: string): Promise<{ talk: SmtpTalk; ehlo: SmtpReply }> {
  const talk = await SmtpTalk.connect({ port, tls: tls === true, ...(localAddress ? { localAddress } : {}) });
  const greeting = await talk.read();
  if (!greeting || greeting.code !== 220) throw new Error(`no greeting: ${JSON.stringify(greeting)}`);
  let ehlo = await talk.command('EHLO client.test');
  if (tls === 'starttls') {
    const started = await talk.starttls();
    if (started.code !== 220) throw new Error(`STARTTLS refused: ${started.code} ${started.text}`);
    ehlo = await talk.command('EHLO client.test');
  }
  return { talk, ehlo };
}

/** Full reply as one line per reply line: "535 5.7.8 Authentication credentials invalid". */
export function replyLine(reply: SmtpReply | null): string {
  if (!reply) return '(connection closed)';
  return reply.lines.map((line) => line.replace(/^(\d{3})-/, '$1 ')).join(' | ');
}
