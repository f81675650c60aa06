// Clients for the anti-abuse end-to-end tests: raw SMTP sessions from a
// chosen 127.x address (exact reply codes), and nodemailer from one (a real
// MTA-like client whose mail must arrive).
import nodemailer from 'nodemailer';
import { SmtpTalk, type SmtpReply } from './smtp-talk.ts';

/** Connects from `localAddress` and reads the greeting (220, or 421 when refused). */
export async function connectFrom(port: number, localAddress: string, timeoutMs = 5000): Promise<{ talk: SmtpTalk; greeting: SmtpReply | null }> {
  const talk = await SmtpTalk.connect({ port, localAddress, timeoutMs });
  return { talk, greeting: await talk.read() };
}

/** EHLO, then the first line of each reply to MAIL, RCPT... (stops at the first refusal of MAIL). */
export async function envelope(talk: SmtpTalk, from: string, to: readonly string[], helo = 'client.example.net'): Promise<string[]> {
  const lines: string[] = [];
  if (helo) await talk.command(`EHLO ${helo}`);
  const mail = await talk.command(`MAIL FROM:<${from}>`);
  lines.push(mail.lines[0] ?? '');
  if (mail.code !== 250) return lines;
  for (const rcpt of to) lines.push((await talk.command(`RCPT TO:<${rcpt}>`)).lines[0] ?? '');
  return lines;
}

/** DATA with `body` (CRLF lines, dot-stuffed by the caller), ended with CRLF.CRLF; the final reply. */
export async function data(talk: SmtpTalk, body: string): Promise<SmtpReply> {
  const go = await talk.command('DATA');
  if (go.code !== 354) return go;
  talk.write(`${body}\r\n.\r\n`);
  const reply = await talk.read();
  if (!reply) throw new Error('connection closed after DATA');
  return reply;
}

/** A whole message through nodemailer from `localAddress`; resolves with the final response line. */
export async function sendFrom(port: number, localAddress: string, envelopeTo: { from: string; to: string[] }, subject = 'hello'): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.example.net', localAddress, connectionTimeout: 5000, greetingTimeout: 5000 });
  try {
    const info = await transport.sendMail({ envelope: envelopeTo, raw: `From: ${envelopeTo.from}\r\nTo: ${envelopeTo.to.join(', ')}\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n` });
    return info.response;
  } finally {
    transport.close();
  }
}
