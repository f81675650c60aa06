// `npm run bench:verify [-- --count=N]`: live recipient verification (issue 16)
// measured against the direct transaction, in one run, on loopback:
//   direct          RCPT TO straight to the upstream (npm smtp-server), one
//                   kept-open connection, MAIL FROM / RCPT / RSET per round
//   relay, off      RCPT at the relay (in process, sources) from an untrusted
//                   client, [recipient_verification] off
//   relay, cold     the same with verification on, every address new: each
//                   RCPT waits for a probe of the upstream
//   relay, warm     the same addresses again: answered from the cache
// Probe counts are the upstream's RCPTs from the null sender. Then the heap
// cost of 100,000 cached answers (a RecipientVerifier filled with remember(),
// full GCs before and after; needs --expose-gc, which the npm script passes).
// Prints a table and writes bench/verify-results.json.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startSmtpSink, type SmtpSink } from '../test/helpers/smtp-sink.ts';
import { makeTestConfig, DEFAULT_LISTENERS } from '../test/helpers/test-config.ts';
import { SmtpTalk } from '../test/helpers/smtp-talk.ts';
import { startRelay } from '../src/main.ts';
import { silentLogger } from '../src/log/logger.ts';
import { RecipientVerifier } from '../src/facts/recipient-probe/recipient-verifier.ts';
import { REPO } from './lib/relay-child.ts';

const { values } = parseArgs({ options: { count: { type: 'string' }, entries: { type: 'string' } } });
const count = Number(values.count ?? 300);
const entries = Number(values.entries ?? 100_000);
const OUTSIDE = '127.0.0.3';

interface Row {
  readonly mode: string;
  readonly rcpts: number;
  readonly probes: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly meanMs: number;
}

function summary(mode: string, times: number[], probes: number): Row {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { mode, rcpts: times.length, probes, medianMs: round(at(0.5)), p95Ms: round(at(0.95)), meanMs: round(times.reduce((a, b) => a + b, 0) / times.length) };
}

const probesAt = (sink: SmtpSink) => sink.rcpts.filter((r) => r.from === '').length;

/** RCPT round trips on one session: MAIL once per 50 RCPTs (RSET between), one timing per RCPT. */
async function rcptTimes(port: number, from: string, addresses: readonly string[], sender: string): Promise<number[]> {
  const talk = await SmtpTalk.connect({ port, localAddress: from, timeoutMs: 30_000 });
  const times: number[] = [];
  try {
    await talk.read();
    await talk.command('EHLO bench.client.test');
    for (let i = 0; i < addresses.length; i++) {
      if (i % 50 === 0) {
        if (i > 0) await talk.command('RSET');
        const mail = await talk.command(`MAIL FROM:<${sender}>`);
        if (mail.code !== 250) throw new Error(`MAIL: ${mail.lines.join(' ')}`);
      }
      const started = performance.now();
      const reply = await talk.command(`RCPT TO:<${addresses[i]}>`);
      times.push(performance.now() - started);
      if (reply.code !== 250) throw new Error(`RCPT ${addresses[i]}: ${reply.lines.join(' ')}`);
    }
    await talk.command('QUIT');
  } finally {
    talk.close();
  }
  return times;
}

/** One relay, one session per pass (each pass its own address list); each pass's RCPT times and the probes it caused. */
async function relayTimes(sink: SmtpSink, verification: boolean, passes: ReadonlyArray<readonly string[]>): Promise<Array<{ times: number[]; probes: number }>> {
  const dir = await makeTestConfig(
    `${DEFAULT_LISTENERS}
[delivery]
mode = "smarthost"
worker = false
[delivery.smarthost]
hosts = ["127.0.0.1:${sink.port}"]
[http]
enabled = false
[recipient_verification]
enabled = ${verification}
`,
    { 'local-domains': 'example.test\n', 'checks.toml': '[sender_domain]\nreject_unknown = false\n', 'limits.toml': '[ip]\nmax_connections = 0\nrecipients = "off"\nmessages = "off"\nconnections = "off"\n' },
  );
  const relay = await startRelay({ configFile: dir.configFile, logger: silentLogger() });
  try {
    const port = relay.smtp.find((l) => l.name === 'mx')?.port as number;
    const runs: Array<{ times: number[]; probes: number }> = [];
    for (const addresses of passes) {
      const before = probesAt(sink);
      const times = await rcptTimes(port, OUTSIDE, addresses, 'someone@other.test');
      runs.push({ times, probes: probesAt(sink) - before });
    }
    return runs;
  } finally {
    await relay.stop();
    await dir.cleanup();
  }
}

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:verify)');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function cacheMemory(n: number): { entries: number; bytes: number; bytesPerEntry: number } {
  const hop = { key: '192.0.2.25:25 tls=opportunistic', label: 'smarthost 192.0.2.25:25', hosts: [{ host: '192.0.2.25', port: 25 }], tls: 'opportunistic' };
  const verifier = new RecipientVerifier({ maxEntries: n });
  const before = heapAfterGc();
  for (let i = 0; i < n; i++) {
    // Realistic shapes: distinct addresses, the upstream's reply text (one string per answer, as a probe stores it).
    verifier.remember(hop, `user.${i.toString(36)}${i}@example.test`, i % 4 === 0 ? 'refused' : 'accepted', `${i % 4 === 0 ? 550 : 250} ${i % 4 === 0 ? '5.1.1' : '2.1.5'} Ok ${i}`.slice(0, 40), 86_400_000);
  }
  const after = heapAfterGc();
  if (verifier.cached !== n) throw new Error(`cache holds ${verifier.cached}, not ${n}`);
  return { entries: n, bytes: after - before, bytesPerEntry: Math.round((after - before) / n) };
}

const sink = await startSmtpSink({ starttls: false });
try {
  const addresses = Array.from({ length: count }, (_, i) => `user${i}@example.test`);
  const rows: Row[] = [];

  // Every path gets a warm-up pass first (code compiled, connections open), on addresses of its own.
  const warmup = (tag: string) => addresses.map((a) => `${tag}.${a}`);
  await rcptTimes(sink.port, '127.0.0.1', warmup('direct'), 'bench@other.test');
  const direct = await rcptTimes(sink.port, '127.0.0.1', addresses, 'bench@other.test');
  rows.push(summary('direct to the upstream', direct, 0));

  const [, off] = await relayTimes(sink, false, [warmup('off'), addresses]);
  rows.push(summary('relay, verification off', off?.times ?? [], off?.probes ?? 0));

  const [, cold, warm] = await relayTimes(sink, true, [warmup('on'), addresses, addresses]);
  rows.push(summary('relay, verification on, cold cache', cold?.times ?? [], cold?.probes ?? 0));
  rows.push(summary('relay, verification on, warm cache', warm?.times ?? [], warm?.probes ?? 0));

  const memory = cacheMemory(entries);
  const results = { startedAt: new Date().toISOString(), node: process.version, count, rows, memory, note: 'cold/warm: probes column counts RCPTs the upstream saw from <> during that pass' };
  await writeFile(path.join(REPO, 'bench', 'verify-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('mode                                   rcpts  probes  median ms  p95 ms  mean ms');
  for (const r of rows) console.log(`${r.mode.padEnd(38)} ${String(r.rcpts).padStart(5)} ${String(r.probes).padStart(7)} ${String(r.medianMs).padStart(10)} ${String(r.p95Ms).padStart(7)} ${String(r.meanMs).padStart(8)}`);
  console.log(`cache memory: ${memory.entries} answers, ${(memory.bytes / 2 ** 20).toFixed(1)} MiB of heap, ${memory.bytesPerEntry} B per answer`);
} finally {
  await sink.close();
}
