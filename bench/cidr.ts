// Benchmark: CidrSet lookups on a 100,000-entry list against naive scans of the
// same list in the same run, and the reload time (read + parse + build) of that
// list through the real PolicyStore.
//   node --import tsx bench/cidr.ts [entries]
// With BENCH_JSON=FILE the figures are also written to FILE (npm run bench folds them in).
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import ipaddr from 'ipaddr.js';
import { parseDenylistFile } from '../src/config/cidr-files.ts';
import { parseNetwork } from '../src/net/cidr.ts';
import { parseClientAddress } from '../src/net/ip-text.ts';
import { openPolicyStore } from '../src/config/policy-store.ts';
import { silentLogger } from '../src/log/logger.ts';

const ENTRIES = Number(process.argv[2] ?? 100_000);

// A deterministic generator, so runs are comparable.
let seed = 0x2545f491;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
}
const int = (n: number): number => Math.floor(random() * n);
const v4 = (): number => int(0x100000000);
const v4Text = (w: number): string => [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255].join('.');
const v6Parts = (): number[] => [0x2001, 0xdb8, int(0x10000), int(0x10000), int(0x10000), int(0x10000), int(0x10000), int(0x10000)];

/** A country/provider-like list: 90% IPv4 (mostly /16-/32), 10% IPv6 (/32-/128). */
function makeList(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (random() < 0.9) {
      const prefix = 16 + int(17);
      const word = prefix === 0 ? 0 : (v4() & (0xffffffff << (32 - prefix))) >>> 0;
      lines.push(`${v4Text(word)}/${prefix} listed ${i}`);
    } else {
      const prefix = 32 + int(97);
      const parts = v6Parts().map((part, j) => {
        const bits = Math.max(0, Math.min(16, prefix - 16 * j));
        return bits === 0 ? 0 : part & ((0xffff << (16 - bits)) & 0xffff);
      });
      lines.push(`${new ipaddr.IPv6(parts).toString()}/${prefix} listed ${i}`);
    }
  }
  return lines;
}

/** Client addresses: random IPv4, IPv4 inside listed networks, mapped IPv4, IPv6. */
function makeQueries(lines: string[], count: number): string[] {
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const kind = int(4);
    if (kind === 0) queries.push(v4Text(v4()));
    else if (kind === 1) {
      const network = parseNetwork((lines[int(lines.length)] as string).split(' ')[0] as string);
      queries.push(network.ok && network.network.family === 4 ? v4Text(network.network.start + int(network.network.end - network.network.start + 1)) : v4Text(v4()));
    } else if (kind === 2) queries.push(`::ffff:${v4Text(v4())}`);
    else queries.push(new ipaddr.IPv6(v6Parts()).toString());
  }
  return queries;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function timePerOp(queries: string[], lookup: (ip: string) => unknown, rounds: number): number {
  const samples: number[] = [];
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (const ip of queries) if (lookup(ip) !== undefined) sink++;
    samples.push(((performance.now() - started) * 1e6) / queries.length);
  }
  if (sink < 0) console.log(sink);
  return median(samples);
}

const lines = makeList(ENTRIES);
const text = lines.join('\n');

// Parse + build in memory.
const buildSamples: number[] = [];
let set = undefined as unknown as Extract<ReturnType<typeof parseDenylistFile>, { ok: true }>['value'];
for (let i = 0; i < 5; i++) {
  const started = performance.now();
  const parsed = parseDenylistFile('denylist', text);
  buildSamples.push(performance.now() - started);
  if (!parsed.ok) throw new Error(`generated list invalid: ${parsed.problems[0]?.message}`);
  set = parsed.value;
}

// Baseline 1: what a first implementation does: ipaddr.js match against every entry.
const parsedEntries = lines.map((line) => {
  const [cidr] = line.split(' ') as [string];
  return { range: ipaddr.parseCIDR(cidr), line };
});
function naiveIpaddr(ip: string): string | undefined {
  const client = ipaddr.process(ip);
  let best: { prefix: number; line: string } | undefined;
  for (const { range, line } of parsedEntries) {
    if (range[0].kind() === client.kind() && client.match(range) && (!best || range[1] > best.prefix)) best = { prefix: range[1], line };
  }
  return best?.line;
}

// Baseline 2: the fastest honest scan: precomputed numeric ranges, no parsing per entry.
const v4Ranges = { start: [] as number[], end: [] as number[], prefix: [] as number[] };
const v6Ranges = { start: [] as bigint[], end: [] as bigint[], prefix: [] as number[] };
for (const line of lines) {
  const network = parseNetwork(line.split(' ')[0] as string);
  if (!network.ok) throw new Error(network.message);
  const target = network.network.family === 4 ? v4Ranges : v6Ranges;
  (target.start as Array<number | bigint>).push(network.network.start);
  (target.end as Array<number | bigint>).push(network.network.end);
  target.prefix.push(network.network.prefix);
}
const v4Start = Float64Array.from(v4Ranges.start);
const v4End = Float64Array.from(v4Ranges.end);
function naiveNumeric(ip: string): number | undefined {
  const address = parseClientAddress(ip);
  if (!address) return undefined;
  let best = -1;
  let bestPrefix = -1;
  if (address.family === 4) {
    for (let i = 0; i < v4Start.length; i++) {
      if ((v4Start[i] as number) <= address.value && address.value <= (v4End[i] as number) && (v4Ranges.prefix[i] as number) > bestPrefix) {
        best = i;
        bestPrefix = v4Ranges.prefix[i] as number;
      }
    }
  } else {
    for (let i = 0; i < v6Ranges.start.length; i++) {
      if ((v6Ranges.start[i] as bigint) <= address.value && address.value <= (v6Ranges.end[i] as bigint) && (v6Ranges.prefix[i] as number) > bestPrefix) {
        best = i;
        bestPrefix = v6Ranges.prefix[i] as number;
      }
    }
  }
  return best === -1 ? undefined : best;
}

// Same answers first (a benchmark of a wrong set would be meaningless).
const check = makeQueries(lines, 300);
for (const ip of check) {
  const fast = set.lookup(ip);
  const slow = naiveIpaddr(ip);
  if ((fast ? lines[fast.line - 1] : undefined) !== slow) {
    throw new Error(`disagreement on ${ip}: ${fast?.cidr} vs ${slow}`);
  }
  if ((fast === undefined) !== (naiveNumeric(ip) === undefined)) throw new Error(`numeric scan disagrees on ${ip}`);
}

const fastQueries = makeQueries(lines, 200_000);
const slowQueries = makeQueries(lines, 200);
timePerOp(fastQueries.slice(0, 20_000), (ip) => set.lookup(ip), 2); // warm-up
const fastNs = timePerOp(fastQueries, (ip) => set.lookup(ip), 5);
timePerOp(slowQueries.slice(0, 20), naiveNumeric, 1);
const numericNs = timePerOp(slowQueries, naiveNumeric, 3);
timePerOp(slowQueries.slice(0, 5), naiveIpaddr, 1);
const ipaddrNs = timePerOp(slowQueries, naiveIpaddr, 3);

// Reload through the real store: read the file, parse, build, validate config, swap.
const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-bench-'));
try {
  await mkdir(path.join(dir, 'policies'));
  await writeFile(path.join(dir, 'policies', 'denylist'), `${text}\n`);
  await writeFile(path.join(dir, 'config.toml'), 'hostname = "bench.example"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "mx"\n');
  const store = await openPolicyStore({ configFile: path.join(dir, 'config.toml'), logger: silentLogger() });
  const reloadSamples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const result = await store.reload('bench');
    if (!result.ok) throw new Error(result.errors.join('\n'));
    reloadSamples.push(result.durationMs);
  }
  const fmt = (n: number): string => n.toFixed(n < 10 ? 2 : 0);
  console.log(`entries: ${ENTRIES} (${v4Start.length} IPv4, ${v6Ranges.start.length} IPv6); node ${process.version}`);
  console.log(`CidrSet.lookup:                     ${fmt(fastNs)} ns/lookup (median of 5 x ${fastQueries.length})`);
  console.log(`naive scan, numeric ranges:         ${fmt(numericNs)} ns/lookup  -> CidrSet is ${fmt(numericNs / fastNs)}x faster`);
  console.log(`naive scan, ipaddr.js match():      ${fmt(ipaddrNs)} ns/lookup  -> CidrSet is ${fmt(ipaddrNs / fastNs)}x faster`);
  console.log(`parse + build (in memory):          ${fmt(median(buildSamples))} ms (median of 5)`);
  console.log(`store.reload() (read, parse, build, swap): ${fmt(median(reloadSamples))} ms (median of 5)`);
  if (process.env.BENCH_JSON) {
    const figures = { entries: ENTRIES, lookupNs: fastNs, numericScanNs: numericNs, ipaddrScanNs: ipaddrNs, buildMs: median(buildSamples), reloadMs: median(reloadSamples) };
    await writeFile(process.env.BENCH_JSON, JSON.stringify(figures));
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
