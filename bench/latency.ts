// 2. Accept latency per message, one transaction at a time (no queueing in the
// way): connect, greeting, EHLO, MAIL, RCPT, DATA, message, "." -> 250, QUIT.
// Timed by our own client (test/helpers/smtp-talk.ts, raw sockets). Modes:
//   direct      the same client against smtp-sink (the floor: client + loopback)
//   warm        relayguard, client 127.0.0.1 whose DNSBL answers are cached
//   cold        relayguard, every transaction from a new 127.x.y.z address:
//               every IP zone is asked (loopback DNS, answers at once)
//   cold+Nms    the same with DNS answers held back N ms (a real resolver's
//               round trip): a cold client should pay about one round trip,
//               however many zones there are, since they are asked in parallel
// "accept" is the time from sending the message and its final "." to the 250
// (the spool write and fsync); "transaction" the whole exchange from connect.
import { SmtpTalk } from '../test/helpers/smtp-talk.ts';
import type { TestDnsServer } from '../test/helpers/dns-server.ts';
import { IP_ZONES, LOCAL_DOMAIN, SENDER_DOMAIN } from './lib/relay-child.ts';
import { percentile, round } from './lib/stats.ts';

export interface LatencyResult {
  readonly mode: string;
  readonly transactions: number;
  readonly transactionP50Ms: number;
  readonly transactionP99Ms: number;
  readonly acceptP50Ms: number;
  readonly acceptP99Ms: number;
  /** DNS queries seen per transaction (0 = every DNSBL answer came from the cache). */
  readonly dnsQueriesPerTransaction: number;
}

/** About 1 KiB: a few header lines and 76-character body lines. */
const BODY = `Subject: latency\r\nFrom: <sender@${SENDER_DOMAIN}>\r\n\r\n${`${'x'.repeat(76)}\r\n`.repeat(12)}`;

let nextCold = 0;
/** A loopback address never used before in this run (127.1.0.1 onwards). */
export function coldAddress(): string {
  nextCold++;
  const rest = Math.floor(nextCold / 254);
  return `127.${1 + (Math.floor(rest / 256) % 254)}.${rest % 256}.${1 + (nextCold % 254)}`;
}

async function expect(reply: Promise<{ code: number; text: string }>, code: number, what: string): Promise<void> {
  const got = await reply;
  if (got.code !== code) throw new Error(`${what}: expected ${code}, got ${got.code} ${got.text}`);
}

async function transaction(port: number, localAddress: string, n: number): Promise<{ total: number; accept: number }> {
  const started = performance.now();
  const talk = await SmtpTalk.connect({ port, localAddress, timeoutMs: 10_000 });
  try {
    const greeting = await talk.read();
    if (greeting?.code !== 220) throw new Error(`greeting: ${greeting?.code} ${greeting?.text}`);
    await expect(talk.command(`EHLO ${SENDER_DOMAIN}`), 250, 'EHLO');
    await expect(talk.command(`MAIL FROM:<sender@${SENDER_DOMAIN}>`), 250, 'MAIL');
    await expect(talk.command(`RCPT TO:<latency${n}@${LOCAL_DOMAIN}>`), 250, 'RCPT');
    await expect(talk.command('DATA'), 354, 'DATA');
    // The message and its final dot in one write: two small writes in a row would
    // meet Nagle's algorithm and the peer's delayed ACK (40 ms on Linux).
    const dot = performance.now();
    talk.write(`${BODY}.\r\n`);
    await expect(talk.read().then((r) => r ?? { code: 0, text: 'connection closed' }), 250, 'end of data');
    const done = performance.now();
    talk.write('QUIT\r\n');
    return { total: done - started, accept: done - dot };
  } finally {
    talk.close();
  }
}

export async function measureLatency(options: {
  mode: string;
  port: number;
  count: number;
  dns: TestDnsServer;
  /** Fresh client address per transaction (cold DNSBL cache). */
  cold: boolean;
  dnsDelayMs?: number;
}): Promise<LatencyResult> {
  options.dns.delay('*', options.dnsDelayMs ?? 0);
  // Warm-up (not measured): JIT, and for "warm" the cache entry of 127.0.0.1.
  for (let i = 0; i < 20; i++) await transaction(options.port, options.cold ? coldAddress() : '127.0.0.1', i);
  options.dns.resetCounts();
  const totals: number[] = [];
  const accepts: number[] = [];
  for (let i = 0; i < options.count; i++) {
    const t = await transaction(options.port, options.cold ? coldAddress() : '127.0.0.1', i);
    totals.push(t.total);
    accepts.push(t.accept);
  }
  const queries = options.dns.queries();
  options.dns.delay('*', 0);
  return {
    mode: options.mode,
    transactions: options.count,
    transactionP50Ms: round(percentile(totals, 50), 2),
    transactionP99Ms: round(percentile(totals, 99), 2),
    acceptP50Ms: round(percentile(accepts, 50), 2),
    acceptP99Ms: round(percentile(accepts, 99), 2),
    dnsQueriesPerTransaction: round(queries / options.count, 2),
  };
}

/** Queries a cold client should cost: one A query per IP zone, none per domain zone (same sender and HELO). */
export const EXPECTED_COLD_QUERIES = IP_ZONES.length;
