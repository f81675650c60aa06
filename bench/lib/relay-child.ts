// relayguard as the benchmark sees it: a child process started the way an
// administrator starts it (`node bin/relayguard.js serve --config FILE`) and
// running what production runs, the build in dist/ (prepareRelayCode builds
// it first), from a generated config directory with every policy on, its JSON
// log going to a file (as under systemd), its dashboard API read for
// counters, its RSS read from /proc. Nothing here reaches into the relay's memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSpool } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, processCpuSeconds } from './postfix-tools.ts';
import type { TestDnsServer } from '../../test/helpers/dns-server.ts';
import { generateSelfSignedPair } from '../../src/smtp/self-signed-pair.ts';

/**
 * The NODE_OPTIONS the shipped systemd unit sets (contrib/relayguard.service):
 * every bench relay runs with them, as production does, whatever code
 * --relay-repo points at (they are the service's runtime, not the code's).
 */
export function serviceNodeOptions(): string {
  const unit = readFileSync(path.join(REPO, 'contrib', 'relayguard.service'), 'utf8');
  return /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1]?.trim() ?? '';
}

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the bench's mail goes, and the DNSBL zones it is checked against. */
export const LOCAL_DOMAIN = 'bench.test';
/** Every bench client sends as someone@SENDER_DOMAIN and says EHLO/HELO SENDER_DOMAIN. */
export const SENDER_DOMAIN = 'client.example';
export const IP_ZONES = ['zen.dnsbl.bench', 'bl.dnsbl.bench'];
export const DOMAIN_ZONES = ['dbl.dnsbl.bench'];

/**
 * The DNS every bench relay is pointed at: RFC 5782 test entries, so the
 * relay's zone health probes pass and the zones stay active, and the sender
 * domain's MX (checks.toml reject_unknown_sender_domain).
 */
export function seedBenchDns(dns: Pick<TestDnsServer, 'add'>): void {
  for (const zone of IP_ZONES) dns.add({ name: `2.0.0.127.${zone}`, type: 'A', data: '127.0.0.2' });
  for (const zone of DOMAIN_ZONES) dns.add({ name: `test.${zone}`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: SENDER_DOMAIN, type: 'MX', data: { preference: 10, exchange: `mx.${SENDER_DOMAIN}` } });
  dns.add({ name: `mx.${SENDER_DOMAIN}`, type: 'A', data: '192.0.2.10' });
}

export interface RelayChildOptions {
  readonly sinkPort: number;
  readonly dnsAddress: string;
  readonly maxConnections?: number;
  readonly deliveryConcurrency: number;
  readonly perDestinationConcurrency: number;
  readonly logLevel?: string;
  /** Preload bench/lib/gc-on-signal.js so fullGc() works (memory benchmark). */
  readonly gcHook?: boolean;
  /** Write a V8 CPU profile of the relay into this directory when it exits. */
  readonly cpuProfDir?: string;
  /** Run bin/relayguard.js of another checkout (an A/B of two commits); default this one. */
  readonly relayRepo?: string;
  /** RELAYGUARD_RUN for the relay: 'dist' (what prepareRelayCode found) fails at start rather than silently run the sources. */
  readonly run?: RelayCode['run'];
  /** More node flags for the relay process (e.g. --heapsnapshot-signal=SIGPWR for a one-off look). */
  readonly nodeArgs?: readonly string[];
  /** Parent of the relay's working directory (default os.tmpdir()); /dev/shm for the tmpfs diagnosis. */
  readonly workRoot?: string;
  /** Extra policy files (name -> text), e.g. limits.toml once it exists. */
  readonly extraPolicies?: Record<string, string>;
  /** TOML appended to config.toml (e.g. [recipient_verification] for --verify-recipients). */
  readonly extraConfig?: string;
  /** A command the relay runs under (e.g. valgrind and its flags; bench/callgrind.ts): [program, ...args] before node. */
  readonly wrapper?: readonly string[];
  /** How long the relay may take to start listening; default 30 s (a relay under valgrind needs more). */
  readonly startTimeoutMs?: number;
}

/**
 * The relay of the diagnostic benches (thread-cpu, pipelined-cpu, fs-calls,
 * callgrind) as `npm run bench` measures it by default: every policy on,
 * every limit of bench/fixtures/limits.toml counted, 20 deliveries at a time
 * to the one upstream. Spread it into startRelayChild with the sink's port.
 */
export async function measuredRelayOptions(code: RelayCode, relayRepo: string, dnsAddress: string): Promise<Omit<RelayChildOptions, 'sinkPort'>> {
  const limits = await readFile(path.join(REPO, 'bench', 'fixtures', 'limits.toml'), 'utf8');
  return { run: code.run, relayRepo, dnsAddress, deliveryConcurrency: 20, perDestinationConcurrency: 20, extraPolicies: { 'limits.toml': limits } };
}

export interface RelayStatus {
  readonly traffic: { readonly totals: Record<'accepted' | 'rejected' | 'deferred' | 'delivered' | 'bounced' | 'deliveryDeferred', number> };
  readonly queue: { readonly size: number } | { readonly error: string };
  readonly cache: { readonly hits: number; readonly misses: number } | { readonly error: string };
  readonly dnsbl: { readonly zones: ReadonlyArray<{ zone: string; queries: number; suspended: boolean }> } | { readonly error: string };
}

export interface RelayChild {
  readonly pid: number;
  readonly dir: string;
  readonly smtpPort: number;
  readonly httpPort: number;
  readonly logFile: string;
  status(): Promise<RelayStatus>;
  /** Resident set size of the relay process in bytes (/proc/PID/status VmRSS). */
  rss(): Promise<number>;
  /** A full GC in the relay (needs gcHook), then its memory: RSS from /proc, heap from process.memoryUsage(), V8's young generation. */
  fullGc(): Promise<{ rss: number; heapUsed: number; external: number; arrayBuffers: number; youngGeneration: number }>;
  /** CPU seconds (user + system) the relay process has used so far (/proc/PID/stat). */
  cpuSeconds(): Promise<number>;
  /** Messages still in the spool, as a restart would find them (queue files and live segment records). */
  spooled(): Promise<number>;
  /** Log lines at warn or above (level >= 40), at most `max`. */
  problems(max?: number): Promise<string[]>;
  stop(): Promise<void>;
}

export interface RelayCode {
  /** What bin/relayguard.js is told to run: the build, or the sources through tsx. */
  readonly run: 'dist' | 'sources';
  /** For the report: which code, and how it was built. */
  readonly note: string;
}

/**
 * The code the bench runs, as production does: `npm run build` in the relay's
 * checkout, then its dist/. A checkout from before the build existed (an A/B
 * against an old commit) has only its sources, run through tsx as its bin did.
 */
export async function prepareRelayCode(repo: string = REPO): Promise<RelayCode> {
  const script = path.join(repo, 'scripts', 'build.js');
  if (!existsSync(script)) return { run: 'sources', note: `${repo}: sources through tsx (this checkout has no build)` };
  const started = Date.now();
  const result = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
  if (result.code !== 0) throw new Error(`the build of ${repo} failed:\n${result.output}`);
  return { run: 'dist', note: `${repo}: dist/ (npm run build, ${Date.now() - started} ms)` };
}

/**
 * The certificate the relay presents, configured as in production ([tls] cert
 * and key): one pair per bench run, made here, so no relay child generates its
 * own (a relay generates only on its first start, and then carries the
 * generator's code for the rest of its life).
 */
let tlsPair: Promise<{ key: string; cert: string }> | undefined;

function configText(dir: string, o: RelayChildOptions, ports: { smtpPort: number; httpPort: number }): string {
  return `hostname = "relay.bench.test"
data_dir = "${path.join(dir, 'data')}"
policies_dir = "${path.join(dir, 'policies')}"
log_level = "${o.logLevel ?? 'info'}"

[tls]
cert = "${path.join(dir, 'tls', 'cert.pem')}"
key = "${path.join(dir, 'tls', 'key.pem')}"

[[listeners]]
name = "mx"
address = "127.0.0.1:${ports.smtpPort}"
role = "mx"
tls = "starttls"

[smtp]
max_connections = ${o.maxConnections ?? 1000}

[dns]
servers = ["${o.dnsAddress}"]
timeout = "2s"
tries = 1

[delivery]
mode = "smarthost"
concurrency = ${o.deliveryConcurrency}
per_destination_concurrency = ${o.perDestinationConcurrency}

[delivery.smarthost]
hosts = ["127.0.0.1:${o.sinkPort}"]
tls = "opportunistic"

[http]
address = "127.0.0.1:${ports.httpPort}"
${o.extraConfig ?? ''}`;
}

/** Every policy on: relay control, a denylist and allowlist that do not match, DNSBL (IP and domain zones). */
function policyFiles(o: RelayChildOptions): Record<string, string> {
  const networks = (first: number) => Array.from({ length: 200 }, (_, i) => `10.${first}.${i}.0/24`).join('\n');
  const zones = [
    ...IP_ZONES.map((zone) => `[[zones]]\nzone = "${zone}"\nkind = "ip"\nweight = 1\n`),
    ...DOMAIN_ZONES.map((zone) => `[[zones]]\nzone = "${zone}"\nkind = "domain"\ncheck = ["sender", "helo"]\nweight = 1\n`),
  ].join('\n');
  return {
    'local-domains': `${LOCAL_DOMAIN}\n`,
    // The bench client (127.0.0.1) is NOT in relay-networks: it may only send to
    // the local domain, and it is subject to the DNSBL like any MX client.
    'relay-networks': `${networks(1)}\n192.0.2.0/24\n`,
    allowlist: `${networks(2)}\n`,
    denylist: `${networks(3)}\n198.51.100.0/24 bench: never matches\n`,
    // Loopback clients are private: ask about them anyway (the lab case).
    'dnsbl.toml': `threshold = 1\ncheck_private_clients = true\n\n${zones}`,
    ...(o.extraPolicies ?? {}),
  };
}

/** Ready = /healthz says the listeners are up and the spool is writable (works at any log level). */
async function waitForStart(httpPort: number, logFile: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`relayguard exited with ${child.exitCode}: ${(await readFile(logFile, 'utf8')).slice(-2000)}`);
    const ready = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relayguard did not start within ${timeoutMs} ms`);
}

async function rssOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(text)?.[1];
  if (!kb) throw new Error('no VmRSS in /proc');
  return Number(kb) * 1024;
}

export async function startRelayChild(options: RelayChildOptions): Promise<RelayChild> {
  const dir = await mkdtemp(path.join(options.workRoot ?? os.tmpdir(), 'relayguard-bench-'));
  await mkdir(path.join(dir, 'policies'));
  for (const [name, text] of Object.entries(policyFiles(options))) await writeFile(path.join(dir, 'policies', name), text);
  const configFile = path.join(dir, 'config.toml');
  // Ports picked here rather than port 0, so nothing depends on reading them back from the log.
  const ports = { smtpPort: await freePort(), httpPort: await freePort() };
  tlsPair ??= generateSelfSignedPair('relay.bench.test');
  const pair = await tlsPair;
  await mkdir(path.join(dir, 'tls'));
  await writeFile(path.join(dir, 'tls', 'cert.pem'), pair.cert);
  await writeFile(path.join(dir, 'tls', 'key.pem'), pair.key, { mode: 0o600 });
  await writeFile(configFile, configText(dir, options, ports));
  // The log and the memory figures live in a folder of their own: the relay
  // watches config.toml's folder, and a log line written there woke its main
  // thread (about 0.1 inotify events per message, which production, logging
  // to stdout, does not pay).
  await mkdir(path.join(dir, 'out'));
  const logFile = path.join(dir, 'out', 'relay.log');
  const out = openSync(logFile, 'a');
  const memoryFile = path.join(dir, 'out', 'memory.json');
  const nodeArgs = [
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    ...(options.nodeArgs ?? []),
    ...(options.gcHook ? ['--expose-gc', '--import', pathToFileURL(path.join(REPO, 'bench', 'lib', 'gc-on-signal.js')).href] : []),
  ];
  const bin = path.join(options.relayRepo ?? REPO, 'bin', 'relayguard.js');
  const argv = [process.execPath, ...nodeArgs, bin, 'serve', '--config', configFile];
  const [program, ...args] = options.wrapper ? [...options.wrapper, ...argv] : argv;
  const child = spawn(program as string, args, {
    cwd: dir,
    stdio: ['ignore', out, out],
    env: { ...process.env, NODE_OPTIONS: serviceNodeOptions(), RELAYGUARD_BENCH_MEMORY_FILE: memoryFile, ...(options.run ? { RELAYGUARD_RUN: options.run } : {}) },
  });
  closeSync(out);
  try {
    await waitForStart(ports.httpPort, logFile, child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = child.pid as number;
  const api = `http://127.0.0.1:${ports.httpPort}`;
  return {
    pid,
    dir,
    logFile,
    ...ports,
    async status() {
      const response = await fetch(`${api}/api/status`, { signal: AbortSignal.timeout(5000) });
      return (await response.json()) as RelayStatus;
    },
    rss: () => rssOf(pid),
    async fullGc() {
      if (!options.gcHook) throw new Error('fullGc needs gcHook');
      const asked = Date.now();
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        const text = await readFile(memoryFile, 'utf8').catch(() => '');
        if (!text) continue;
        const usage = JSON.parse(text) as { heapUsed: number; external: number; arrayBuffers: number; youngGeneration: number; at: number };
        if (usage.at < asked) continue;
        // Give the allocator a moment to hand freed pages back before reading RSS.
        await new Promise((resolve) => setTimeout(resolve, 250));
        return { rss: await rssOf(pid), heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, youngGeneration: usage.youngGeneration };
      }
      throw new Error('the relay did not answer SIGUSR2 with its memory figures');
    },
    cpuSeconds: () => processCpuSeconds(pid),
    async spooled() {
      // What a restart would find: files in queue/ and live records in segments/ (a read-only look).
      const spool = await openSpool({ dir: path.join(dir, 'data', 'spool'), logger: silentLogger(), exclusive: false });
      try {
        return spool.stats().size;
      } finally {
        await spool.close();
      }
    },
    async problems(max = 10) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      const found: string[] = [];
      for (const line of text.split('\n')) {
        if (found.length >= max) break;
        const level = /"level":(\d+)/.exec(line)?.[1];
        // A relay that generates its certificate warns about it (an --relay-repo checkout that ignores [tls]).
        if (level && Number(level) >= 40 && !line.includes('generated a self-signed')) found.push(line.slice(0, 500));
      }
      return found;
    },
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = new Promise((resolve) => setTimeout(resolve, 15_000));
        await Promise.race([gone, timer]);
        if (child.exitCode === null) {
          child.kill('SIGKILL');
          await gone;
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
