// Raw SMTP conversations for the relay end-to-end tests (test/relay-control, test/reload, test/lifecycle):
// open a session from a chosen 127.x source address, run transactions with
// exact command bytes, and build messages the sink can count by Message-ID.
// Every wait is bounded by SmtpTalk's timeout.
import assert from 'node:assert/strict';
import { SmtpTalk, type SmtpReply } from './smtp-talk.ts';

export interface OpenOptions {
  readonly port: number;
  /** Source address of the client (127.0.0.3 plays "outside"); default 127.0.0.1. */
  readonly from?: string;
  readonly helo?: string;
  readonly timeoutMs?: number;
}

/** Connects, expects the 220 greeting, says EHLO; returns the live session. */
export async function openSession(options: OpenOptions): Promise<SmtpTalk> {
  const talk = await SmtpTalk.connect({ port: options.port, localAddress: options.from ?? '127.0.0.1', timeoutMs: options.timeoutMs ?? 10_000 });
  const greeting = await talk.read();
  assert.equal(greeting?.code, 220, `greeting: ${greeting?.lines.join(' | ') ?? 'connection closed'}`);
  const ehlo = await talk.command(`EHLO ${options.helo ?? 'client.test'}`);
  assert.equal(ehlo.code, 250, `EHLO: ${ehlo.lines.join(' | ')}`);
  return talk;
}

/** Just the greeting (or null if the server closed without one). */
export async function greetingOf(port: number, from: string): Promise<{ reply: SmtpReply | null; closedAfter: boolean }> {
  const talk = await SmtpTalk.connect({ port, localAddress: from, timeoutMs: 10_000 });
  try {
    const reply = await talk.read();
    const next = reply && reply.code >= 400 ? await talk.read() : undefined;
    return { reply, closedAfter: next === null };
  } finally {
    talk.close();
  }
}

/** A small message with a unique Message-ID the sink can be searched for. */
export function message(id: string, extraBody = ''): string {
  return [
    'From: sender@sender.test',
    'To: someone@example.test',
    `Subject: ${id}`,
    `Message-ID: <${id}@e2e-relay.test>`,
    '',
    `body of ${id}`,
    extraBody,
  ].join('\r\n');
}

export interface Transaction {
  readonly mail: SmtpReply;
  readonly rcpt: SmtpReply[];
  /** The reply to DATA (354) then to the final dot; undefined when DATA was not reached. */
  readonly data?: SmtpReply;
  readonly queued?: SmtpReply;
}

/**
 * MAIL FROM, each RCPT TO (raw text after the colon, sent as given), then DATA
 * with `body` if at least one recipient was accepted. Leaves the session open.
 */
export async function transaction(talk: SmtpTalk, from: string, rcpts: readonly string[], body: string): Promise<Transaction> {
  const mail = await talk.command(`MAIL FROM:${from}`);
  if (mail.code !== 250) return { mail, rcpt: [] };
  const rcpt: SmtpReply[] = [];
  for (const to of rcpts) rcpt.push(await talk.command(`RCPT TO:${to}`));
  if (!rcpt.some((r) => r.code === 250)) {
    await talk.command('RSET');
    return { mail, rcpt };
  }
  const data = await talk.command('DATA');
  if (data.code !== 354) return { mail, rcpt, data };
  // Dot-stuffing: lines starting with "." get another.
  const stuffed = body.replace(/^\./gm, '..');
  const queued = await talk.command(`${stuffed}\r\n.`);
  return { mail, rcpt, data, queued };
}

/** The 3-digit code and the enhanced status code of a reply, e.g. "550 5.7.1". */
export function codeOf(reply: SmtpReply): string {
  return /^\d{3}(?: [245]\.\d{1,3}\.\d{1,3})?/.exec(reply.lines[0] ?? '')?.[0] ?? String(reply.code);
}

/** Message-IDs of what a sink received, counted. */
export function messageIds(raws: readonly Buffer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const raw of raws) {
    const id = /^Message-ID: <([^>]+)@e2e-relay\.test>/im.exec(raw.toString('latin1'))?.[1] ?? '(none)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** GET a dashboard JSON route on loopback. */
export async function getJson(http: { host: string; port: number } | undefined, route: string): Promise<Record<string, unknown>> {
  assert.ok(http, 'the dashboard is listening');
  const response = await fetch(`http://127.0.0.1:${http.port}${route}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200, `GET ${route}`);
  return (await response.json()) as Record<string, unknown>;
}
