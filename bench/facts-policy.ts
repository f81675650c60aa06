// In-process micro-benchmark of what one bench session costs in fact
// gathering and policy evaluation: the real session driver with the
// providers `serve` opens (DNSBL with 3 zones warm in cache, limits with
// every limit of bench/fixtures/limits.toml on, sender domain warm, recipient
// verification off, accounts), on the bench's policy files (200-network
// allow/deny/relay lists), walking connect, MAIL (HELO judged there), RCPT,
// DATA, end of data and close as smtp-source's sessions do. No sockets
// besides a loopback DNS server that is asked only while warming up.
//
//   node --import tsx bench/facts-policy.ts [--base=DIR] [--sessions=1000] [--rounds=40]
//
// With --base, the same session runs on another checkout's src/ (its own
// module graph) in the same process, alternating rounds: an old/new A/B in
// CPU ns per session (process.cpuUsage: this process's CPU, GC threads
// included), which depends far less on the machine's load than wall time.
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createHook } from 'node:async_hooks';
import v8 from 'node:v8';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { LOCAL_DOMAIN, REPO, SENDER_DOMAIN, seedBenchDns, IP_ZONES, DOMAIN_ZONES } from './lib/relay-child.ts';
import type * as LoadPolicy from '../src/config/load-policy.ts';
import type * as Providers from '../src/facts/providers.ts';
import type * as SessionDriver from '../src/session/session-driver.ts';
import type * as AuthenticatorModule from '../src/auth/authenticator.ts';
import type * as FailureStore from '../src/auth/failure-store.ts';
import type * as AccountFacts from '../src/accounts/account-facts.ts';
import type * as LoggerModule from '../src/log/logger.ts';
import type { SessionRecord } from '../src/session/session-record.ts';

const { values } = parseArgs({ options: { base: { type: 'string' }, sessions: { type: 'string' }, rounds: { type: 'string' } } });
const sessions = Number(values.sessions ?? 1000);
const rounds = Number(values.rounds ?? 40);

function policyFiles(limits: string): Record<string, string> {
  const networks = (first: number) => Array.from({ length: 200 }, (_, i) => `10.${first}.${i}.0/24`).join('\n');
  const zones = [
    ...IP_ZONES.map((zone) => `[[zones]]\nzone = "${zone}"\nkind = "ip"\nweight = 1\n`),
    ...DOMAIN_ZONES.map((zone) => `[[zones]]\nzone = "${zone}"\nkind = "domain"\ncheck = ["sender", "helo"]\nweight = 1\n`),
  ].join('\n');
  return {
    'local-domains': `${LOCAL_DOMAIN}\n`,
    'relay-networks': `${networks(1)}\n192.0.2.0/24\n`,
    allowlist: `${networks(2)}\n`,
    denylist: `${networks(3)}\n198.51.100.0/24 bench: never matches\n`,
    'dnsbl.toml': `threshold = 1\ncheck_private_clients = true\n\n${zones}`,
    'limits.toml': limits,
  };
}

type RunSession = () => Promise<void>;

/** One checkout's session, built from its own sources. */
async function prepare(repo: string, dir: string): Promise<RunSession> {
  const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(repo, 'src', file)).href)) as T;
  const { loadPolicy, createSnapshot } = await load<typeof LoadPolicy>('config/load-policy.ts');
  const { createFactsRuntime } = await load<typeof Providers>('facts/providers.ts');
  const { createSessionDriver } = await load<typeof SessionDriver>('session/session-driver.ts');
  const { Authenticator } = await load<typeof AuthenticatorModule>('auth/authenticator.ts');
  const { MemoryAuthFailureStore } = await load<typeof FailureStore>('auth/failure-store.ts');
  const { accountFactsProvider } = await load<typeof AccountFacts>('accounts/account-facts.ts');
  const { silentLogger } = await load<typeof LoggerModule>('log/logger.ts');

  const configFile = path.join(dir, 'config.toml');
  const loaded = await loadPolicy(configFile);
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
  const snapshot = createSnapshot(loaded, 1, new Date());
  const logger = silentLogger();
  const runtime = createFactsRuntime(snapshot, logger, { nextHop: () => undefined });
  // Unauthenticated sessions never reach the monitor: the provider only asks enabled().
  const monitor = {} as Parameters<typeof accountFactsProvider>[0];
  const providers = [...runtime.providers, accountFactsProvider(monitor, () => snapshot.config.accounts.enabled)];
  const driver = createSessionDriver({ hostname: snapshot.config.hostname, credentials: new Authenticator({ store: new MemoryAuthFailureStore() }), facts: providers, logger });
  const listener = snapshot.config.listeners[0];
  if (!listener) throw new Error('no listener');
  const record = { ...listener, name: 'mx', authOffered: false };
  let ids = 0;
  const expect = (what: string, verdict: string, want: string): void => {
    if (verdict !== want) throw new Error(`${repo}: ${what} was ${verdict}, not ${want}`);
  };
  return async () => {
    const state: SessionRecord = {
      sessionId: `S${++ids}`,
      listener: record,
      clientIp: '127.0.0.1',
      clientPort: 40000,
      peerIp: '127.0.0.1',
      localIp: '127.0.0.1',
      localPort: 2525,
      connectedAt: 0,
      snapshot,
      tls: false,
      esmtp: false,
      recipients: [],
      rejectedRecipients: 0,
      errors: 0,
      messages: 0,
      steps: [],
    };
    expect('connect', (await driver.connect(state)).verdict, 'permit');
    state.helo = SENDER_DOMAIN;
    state.esmtp = true;
    expect('mail', (await driver.mail(state, `sender@${SENDER_DOMAIN}`, {})).decision.verdict, 'permit');
    expect('rcpt', (await driver.rcpt(state, `measured@${LOCAL_DOMAIN}`)).decision.verdict, 'permit');
    expect('data', (await driver.data(state)).verdict, 'permit');
    expect('eod', driver.endOfData(state, { size: 1100, bareLineEnding: false, nul: false, longestLine: 80 }).verdict, 'permit');
    driver.close(state);
  };
}

async function main(): Promise<void> {
  const dns = await startDnsServer();
  seedBenchDns(dns);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-facts-bench-'));
  try {
    await mkdir(path.join(dir, 'policies'));
    const limits = await readFile(path.join(REPO, 'bench', 'fixtures', 'limits.toml'), 'utf8');
    for (const [name, text] of Object.entries(policyFiles(limits))) await writeFile(path.join(dir, 'policies', name), text);
    await writeFile(
      path.join(dir, 'config.toml'),
      `hostname = "relay.bench.test"\ndata_dir = "${path.join(dir, 'data')}"\npolicies_dir = "${path.join(dir, 'policies')}"\n\n` +
        `[[listeners]]\nname = "mx"\naddress = "127.0.0.1:2525"\nrole = "mx"\ntls = "none"\n\n[dns]\nservers = ["${dns.address}"]\ntimeout = "2s"\ntries = 1\n`,
    );
    const variants: Array<{ name: string; run: RunSession; ns: number[] }> = [{ name: 'this', run: await prepare(REPO, dir), ns: [] }];
    if (values.base) variants.push({ name: 'base', run: await prepare(path.resolve(values.base), dir), ns: [] });
    // Warm the caches (DNSBL, sender domain) and the JIT; then DNS is no longer asked.
    for (const variant of variants) for (let i = 0; i < 2000; i++) await variant.run();
    dns.resetCounts();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        // CPU time, not wall time: on a shared machine the wall clock counts other processes' turns.
        const started = process.cpuUsage();
        for (let i = 0; i < sessions; i++) await variant.run();
        const used = process.cpuUsage(started);
        variant.ns.push(((used.user + used.system) * 1000) / sessions);
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // What the load does not move: bytes allocated in V8's young generation
    // per session (samples spanning a scavenge are dropped), and promises made.
    const newSpace = (): number => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
    for (const variant of variants) {
      const bytes: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const before = newSpace();
        await variant.run();
        const after = newSpace();
        if (after >= before) bytes.push(after - before);
      }
      let promises = 0;
      const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) }).enable();
      for (let i = 0; i < 100; i++) await variant.run();
      hook.disable();
      console.log(`${variant.name}: ${median(bytes)} bytes allocated (young generation, median of ${bytes.length}) and ${promises / 100} promises per session`);
    }
    for (const { name, ns } of variants) {
      console.log(`${name}: median ${median(ns).toFixed(0)}, min ${Math.min(...ns).toFixed(0)} CPU ns/session; rounds ${ns.map((x) => x.toFixed(0)).join(' ')}`);
    }
    const [mine, base] = variants;
    if (mine && base) {
      // Each round ran both back to back: the median of the per-round ratios cancels the machine's slow spells.
      const ratios = mine.ns.map((ns, i) => ns / (base.ns[i] as number));
      console.log(`this/base: median of per-round ratios ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); ratio of minima ${(Math.min(...mine.ns) / Math.min(...base.ns)).toFixed(3)}`);
    }
    console.log(`DNS queries while measuring: ${dns.queries()}`);
  } finally {
    await dns.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

await main();
