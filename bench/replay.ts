// `node --import tsx bench/replay.ts [--sessions=1000000] [--keep=DIR] [--jobs=0,2]`
// The replay benchmark of issue 17: writes N synthetic journal records (the
// shapes serve journals: local delivery with DNSBL answers and counts,
// DNSBL-refused, relay-denied, trusted relay, authenticated relay,
// rate-limited, denylisted) as framed segments into a temp journal, then
// replays them all under a candidate that changes several decisions
// (a zone weight, a denylist entry, a relay network), and prints sessions per
// second, seconds per million (wall and CPU: process-wide, workers included)
// and the peak RSS of the replay, once per --jobs value (0: the main thread;
// N: N worker threads; default 0 and one per CPU). Segments are cut at the
// default journal.segment_bytes (32 MiB). With --keep=DIR a journal already
// there (of the same --sessions) is replayed again without writing it anew.
import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createSnapshot, loadPolicy } from '../src/config/load-policy.ts';
import { frameRecord, segmentName } from '../src/journal/journal-segment.ts';
import type { JournalRecord } from '../src/journal/journal-record.ts';
import { replayJournal } from '../src/journal/replay-run.ts';

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '1000000' }, keep: { type: 'string' }, jobs: { type: 'string', default: `0,${os.availableParallelism()}` } } });
const total = Number(values.sessions);
const jobsList = values.jobs.split(',').map(Number);

function ip(n: number): string {
  return `198.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

const ok = (stage: string, rule: string, reason: string) => ['permit', stage, rule, reason] as const;
const dunno = (stage: string) => ['dunno', stage, stage, 'ok'] as const;

/** One of seven recorded shapes, as the front door journals them. */
function synthetic(n: number, t: number): JournalRecord {
  const client = ip(n);
  const base = { v: 1, id: `bench${n.toString(36)}`, t, ms: 120, l: 'mx', r: 'mx' as const, ip: client, g: 1 };
  const connect = { c: 'connect' as const, f: { cn: { c: { global: 3, ip: 1, ipRates: [{ windowMs: 60_000, count: 1 }] } } }, d: [dunno('connect')] };
  const mail = (from: string, decision: readonly [string, string, string, string] = dunno('mail')) => ({
    c: 'mail' as const, i: from, p: { SIZE: '2048' }, tls: true, h: 'mail.client.example', e: true,
    f: { rt: { c: [['ip', 'ip.messages', 3_600_000, 2] as const, ['sender_domain', 'sender_domain.messages', 3_600_000, 5] as const], x: 0 }, sd: 'ok' },
    d: [dunno('helo'), decision],
  });
  const rcpt = (to: string, decision: readonly [string, string, string, string]) => ({
    c: 'rcpt' as const, i: to, f: { dn: 1 as const, rt: { c: [['ip', 'ip.recipients', 3_600_000, 2] as const], x: 0 } }, d: [decision],
  });
  const data = [{ c: 'data' as const, d: [dunno('data')] }, { c: 'eod' as const, f: { ms: { size: 4096, bareLineEnding: false, longestLine: 78 } }, d: [ok('data', 'data', 'ok')] }];
  const clean = [['bl.example', 'client', 'clean'], ['dbl.example', 'sender', 'clean']] as const;
  switch (n % 7) {
    case 0:
      return { ...base, dn: clean as unknown as JournalRecord['dn'], s: [connect, mail(`user${n}@sender.example`), rcpt('bob@example.test', ok('rcpt', 'local-domains', 'rcpt.local_domain')), ...data] } as unknown as JournalRecord;
    case 1:
      return { ...base, dn: [['bl.example', 'client', 'listed', ['127.0.0.2']], ['dbl.example', 'sender', 'clean']], s: [connect, mail(`spam${n}@spam.example`), rcpt('bob@example.test', ['reject', 'rcpt', 'dnsbl', 'dnsbl.listed'])] } as unknown as JournalRecord;
    case 2:
      return { ...base, dn: clean as unknown as JournalRecord['dn'], s: [connect, mail(`x${n}@stranger.example`), rcpt(`victim${n}@foreign.example`, ['reject', 'rcpt', 'reject-relay', 'relay.denied'])] } as unknown as JournalRecord;
    case 3:
      return { ...base, ip: `10.1.${(n >> 8) & 255}.${n & 255}`, s: [{ ...connect, f: { cn: { c: { global: 3 } } } }, mail(`app${n}@example.test`), rcpt(`far${n}@foreign.example`, ok('rcpt', 'relay-networks', 'relay.trusted_network')), ...data] } as unknown as JournalRecord;
    case 4:
      return {
        ...base, l: 'submission', r: 'submission',
        s: [connect, { c: 'auth', i: 'alice', m: 'PLAIN', tls: true, f: { au: 'ok' }, d: [ok('auth', 'auth', 'auth.ok')] }, mail('alice@example.test'), rcpt(`carol${n}@foreign.example`, ok('rcpt', 'authenticated', 'relay.authenticated')), ...data],
      } as unknown as JournalRecord;
    case 5:
      return { ...base, s: [connect, { ...mail(`f${n}@flood.example`, ['defer', 'mail', 'rate-limits', 'mail.rate']), f: { rt: { c: [['ip', 'ip.messages', 3_600_000, 200]], x: 1 } } }] } as unknown as JournalRecord;
    default:
      return { ...base, ip: `203.0.113.${n & 255}`, s: [{ c: 'connect', f: { cn: { c: { global: 3, ip: 1 } } }, d: [['reject', 'connect', 'denylist', 'denylist.listed']] }] } as unknown as JournalRecord;
  }
}

const root = values.keep ?? (await mkdtemp(path.join(os.tmpdir(), 'relayguard-replay-bench-')));
const policies = path.join(root, 'policies');
const journal = path.join(root, 'data', 'journal');
await mkdir(policies, { recursive: true });
await mkdir(journal, { recursive: true });
await writeFile(path.join(root, 'config.toml'), 'hostname = "relay.example"\ndata_dir = "./data"\npolicies_dir = "./policies"\n\n[[listeners]]\nname = "mx"\naddress = "127.0.0.1:25"\nrole = "mx"\n\n[[listeners]]\nname = "submission"\naddress = "127.0.0.1:587"\nrole = "submission"\n');
await writeFile(path.join(policies, 'local-domains'), 'example.test\n');
await writeFile(path.join(policies, 'relay-networks'), '10.0.0.0/8\n198.0.0.0/24\n');
await writeFile(path.join(policies, 'denylist'), '203.0.113.0/25\n198.0.1.0/24\n');
await writeFile(path.join(policies, 'limits.toml'), '[ip]\nmessages = "100/1h"\nrecipients = "500/1h"\nconnections = "60/1m"\n');
await writeFile(path.join(policies, 'dnsbl.toml'), 'threshold = 2\n\n[[zones]]\nzone = "bl.example"\nweight = 2\n\n[[zones]]\nzone = "dbl.example"\nkind = "domain"\nweight = 2\n\n[[zones]]\nzone = "new.example"\nweight = 1\n');
await writeFile(path.join(policies, 'users.toml'), '[[users]]\nname = "alice"\nhash = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0$8X+o2b1Qw2k1p7q0yJfN7tY9cQm0b8x0l9iYc3K1t7zQ2vQZkq0b0r2l8wJf9s3QvT9v5pY6k9lq2g0w3r8w=="\nsenders = ["alice@example.test"]\n');

const t0 = Date.now() - 3_600_000;
const genStart = performance.now();
const segmentBytes = 32 * 1024 * 1024;
let bytes = 0;
const existing = (await readdir(journal)).filter((name) => name.endsWith('.jsonl'));
if (existing.length === 0) {
  let lines: string[] = [];
  let size = 0;
  let segmentStart = 0;
  const cut = async (): Promise<void> => {
    await writeFile(path.join(journal, segmentName(t0 + segmentStart)), lines.join(''));
    lines = [];
    size = 0;
  };
  for (let n = 0; n < total; n++) {
    const line = frameRecord(synthetic(n, t0 + n));
    const length = Buffer.byteLength(line);
    if (size + length > segmentBytes && lines.length > 0) {
      await cut();
      segmentStart = n;
    }
    lines.push(line);
    size += length;
    bytes += length;
  }
  if (lines.length > 0) await cut();
} else {
  for (const name of existing) bytes += (await stat(path.join(journal, name))).size;
}
const genMs = performance.now() - genStart;

const load = await loadPolicy(path.join(root, 'config.toml'));
if (!load.ok) throw new Error(JSON.stringify(load.problems));
const candidate = createSnapshot(load, 2, new Date());
const rows = [];
for (const jobs of jobsList) {
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const cpu0 = process.cpuUsage();
  const run = await replayJournal({ journalDir: journal, candidate, jobs });
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const s = run.summary;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  rows.push({
    jobs,
    workers: run.workers,
    sessions: s.sessions,
    replaySeconds: +(run.durationMs / 1000).toFixed(1),
    sessionsPerSecond: Math.round(s.sessions / (run.durationMs / 1000)),
    secondsPerMillion: +((run.durationMs / 1000) * (1_000_000 / s.sessions)).toFixed(1),
    replayCpuSeconds: +cpuSeconds.toFixed(1),
    cpuSecondsPerMillion: +(cpuSeconds * (1_000_000 / s.sessions)).toFixed(1),
    rssBeforeReplayMB: Math.round(rssBefore / 1048576),
    peakRssDuringReplayMB: Math.round(peak / 1048576),
    changes: s.changes,
    relayOpenings: s.relayOpenings.count,
    groups: s.groups.map((g) => `${g.kind} ${g.stage} ${g.rule} ${g.reason} ${g.count}`),
    unknownSessions: s.unknown.sessions,
    segments: run.read.segments,
    corrupt: run.read.corruptRecords,
  });
}
console.log(
  JSON.stringify(
    {
      sessions: total,
      journalBytes: bytes,
      bytesPerSession: Math.round(bytes / total),
      generateSeconds: +(genMs / 1000).toFixed(1),
      loadAverage: os.loadavg().map((l) => +l.toFixed(1)),
      cpus: os.availableParallelism(),
      runs: rows,
    },
    null,
    2,
  ),
);
if (values.keep === undefined) await rm(root, { recursive: true, force: true });
