// 1. End-to-end relay throughput. For each (message size, concurrency):
//   direct:  smtp-source -> smtp-sink                       (the baseline)
//   relayed: smtp-source -> relayguard -> smtp-sink         (all policies on, fsync on)
// in the same run, on the same machine, with the same sink. One message per
// SMTP connection (MX traffic: connect-time policy and DNSBL per message).
// Two clocks for the relayed path: "accepted" stops when smtp-source has had
// 250 for every message (on disk at the relay), "end to end" when the relay has
// had 250 from the sink for every message. Then the sink's dump is counted:
// delivered = sent, every recipient exactly once, spool empty.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestDnsServer } from '../test/helpers/dns-server.ts';
import { measureDiskFlush } from './lib/disk-flush.ts';
import { processCpuSeconds, runSource, startSink } from './lib/postfix-tools.ts';
import { LOCAL_DOMAIN, REPO, SENDER_DOMAIN, startRelayChild, type RelayChild, type RelayChildOptions, type RelayStatus } from './lib/relay-child.ts';
import { pollUntil, round } from './lib/stats.ts';

export interface ThroughputCase {
  readonly payloadBytes: number;
  readonly sessions: number;
  readonly messages: number;
}

export interface ThroughputSettings {
  readonly source: string;
  readonly sink: string;
  readonly dns: TestDnsServer;
  /** How to start the relay (all but the sink's port, which is per run). */
  readonly relay: Omit<RelayChildOptions, 'sinkPort'>;
  /** Upper bound for one smtp-source run and for the drain after it. */
  readonly timeoutMs: number;
}

export interface ThroughputResult extends ThroughputCase {
  /** The faster of the direct runs before and after the relayed one. */
  readonly directSeconds: number;
  readonly directRunsPerSecond: number[];
  readonly directPerSecond: number;
  readonly acceptedSeconds: number;
  readonly acceptedPerSecond: number;
  readonly endToEndSeconds: number;
  readonly endToEndPerSecond: number;
  /** relayed end-to-end msgs/s over direct msgs/s. */
  readonly ratio: number;
  readonly acceptedRatio: number;
  readonly relayCpuSeconds: number;
  readonly relayCpuPerMessageMs: number;
  /**
   * CPU per message of Postfix's load tools themselves (ms, user + system):
   * smtp-source and smtp-sink on the direct path (its fastest run), and on the
   * relayed path. On a machine the three processes saturate, the ratio is
   * about direct tools' CPU / (relayed tools' CPU + relay CPU): the figure
   * that says what a relay's CPU per message can reach for a given ratio.
   */
  readonly toolsCpuPerMessageMs: {
    readonly direct: { readonly source: number; readonly sink: number };
    readonly relayed: { readonly source: number; readonly sink: number };
  };
  /**
   * The front-door library alone (bench/lib/bare-smtp-server.ts: smtp-server
   * accepting and discarding, nothing else) under the same load: a ceiling for
   * any relay built on it. Undefined if it could not be measured.
   */
  readonly libraryAlone?: { readonly perSecond: number; readonly ratio: number; readonly cpuPerMessageMs: number };
  /**
   * The floor of a durable relay built from the same libraries
   * (bench/lib/minimal-relay.ts: smtp-server, one fdatasync'd append per
   * group, nodemailer's pool to the same kind of sink, end to end; nothing
   * else) under the same load. Undefined if it could not be measured.
   */
  readonly minimalRelay?: { readonly perSecond: number; readonly ratio: number; readonly cpuPerMessageMs: number };
  /**
   * The floor of any relay written in Node, whatever its libraries
   * (bench/lib/node-floor-relay.ts: node:net, no SMTP library, no checks):
   * its front door alone (accept and discard) and the durable relay (one
   * O_DSYNC group-committed file, raw pipelined delivery), under the same
   * load. Undefined parts could not be measured.
   */
  readonly nodeFloor?: {
    readonly front?: { readonly perSecond: number; readonly ratio: number; readonly cpuPerMessageMs: number };
    readonly relay?: { readonly perSecond: number; readonly ratio: number; readonly cpuPerMessageMs: number };
  };
  readonly dnsQueriesDuringRun: number;
  readonly dnsblCache: { hits: number; misses: number };
  /**
   * The disk's latency for a durable 1 KiB append (bench/lib/disk-flush.ts),
   * just before and just after the relayed run: what every 250 waits for,
   * set by the machine, not by the code.
   */
  readonly diskFlushMs?: { readonly before: { p50Ms: number; p90Ms: number }; readonly after: { p50Ms: number; p90Ms: number } };
  /** 1-minute load average before and after the relayed run (the machine may be shared). */
  readonly loadAverage: number[];
  /** With --repeat: every run's figures (this result is the run with the median ratio). */
  readonly repeats?: ReadonlyArray<Pick<ThroughputResult, 'ratio' | 'endToEndPerSecond' | 'directPerSecond' | 'relayCpuPerMessageMs' | 'toolsCpuPerMessageMs' | 'libraryAlone' | 'minimalRelay' | 'nodeFloor' | 'diskFlushMs'>>;
  readonly check: { sent: number; directAtSink: number; relayedAtSink: number; distinctRecipients: number; spoolLeft: number; ok: boolean; problems: string[] };
}

interface Relayed {
  readonly acceptedSeconds: number;
  readonly endToEndSeconds: number;
  readonly cpuSeconds: number;
  readonly sourceCpu: number;
  readonly sinkCpu: number;
  readonly dnsQueries: number;
  readonly dnsblCache: { hits: number; misses: number };
  readonly atSink: number;
  readonly distinctRecipients: number;
  readonly spoolLeft: number;
}

/**
 * Messages sent before the clock starts, at the case's concurrency: they fill
 * the DNSBL cache and let V8 optimise the hot path, so the figure is the
 * steady state of a relay that has been up for a while, not its first
 * seconds. With 50 warm-up messages, optimising compilation was still running
 * during the measured run: ~15% more relay CPU per message (two A/B pairs).
 * smtp-server alone gets the same warm-up.
 */
export const WARM_UP = 2_000;
const SENDER = `sender@${SENDER_DOMAIN}`;
const HELO = SENDER_DOMAIN;

const totals = (status: RelayStatus) => status.traffic.totals;

export async function measureThroughput(c: ThroughputCase, s: ThroughputSettings): Promise<ThroughputResult> {
  const problems: string[] = [];
  const source = { messages: c.messages, sessions: c.sessions, payloadBytes: c.payloadBytes, sender: SENDER, helo: HELO, timeoutMs: s.timeoutMs };

  // Direct baseline, before and after the relayed run; the faster one counts
  // (the machine may be shared: the better figure is the less disturbed one,
  // and it makes the ratio conservative).
  const directRun = async () => {
    const directSink = await startSink(s.sink);
    try {
      const sinkCpuBefore = await directSink.cpuSeconds();
      const run = await runSource(s.source, { ...source, port: directSink.port, recipient: `direct@${LOCAL_DOMAIN}` });
      if (!run.ok) problems.push(`direct smtp-source failed: ${run.stderr}`);
      const sinkCpu = (await directSink.cpuSeconds()) - sinkCpuBefore;
      const count = await directSink.count();
      if (count.messages !== c.messages) problems.push(`direct: sink has ${count.messages} of ${c.messages}`);
      return { seconds: run.seconds, atSink: count.messages, sourceCpu: run.cpuSeconds, sinkCpu };
    } finally {
      await directSink.stop();
    }
  };
  const directRuns = [await directRun()];
  const loadBefore = os.loadavg()[0] ?? 0;

  // Relayed.
  const sink = await startSink(s.sink);
  let diskBefore: { p50Ms: number; p90Ms: number } | undefined;
  let diskAfter: { p50Ms: number; p90Ms: number } | undefined;
  let relay: RelayChild | undefined;
  let relayed: Relayed = { acceptedSeconds: Infinity, endToEndSeconds: Infinity, cpuSeconds: 0, sourceCpu: 0, sinkCpu: 0, dnsQueries: 0, dnsblCache: { hits: 0, misses: 0 }, atSink: 0, distinctRecipients: 0, spoolLeft: -1 };
  try {
    relay = await startRelayChild({ ...s.relay, sinkPort: sink.port });
    const live = relay;
    // Warm up (WARM_UP messages at the same concurrency): DNSBL cache and optimised code.
    const warm = await runSource(s.source, { ...source, messages: WARM_UP, port: live.smtpPort, recipient: `warm@${LOCAL_DOMAIN}` });
    if (!warm.ok) problems.push(`warm-up failed: ${warm.stderr}`);
    const drained = async (target: number) => {
      const status = await live.status();
      const queue = status.queue;
      return totals(status).delivered >= target && 'size' in queue && queue.size === 0 ? status : undefined;
    };
    const before = await pollUntil(() => drained(WARM_UP), 30_000);
    if (!before) throw new Error('warm-up messages were not delivered');
    diskBefore = await measureDiskFlush(s.relay.workRoot ?? os.tmpdir());
    s.dns.resetCounts();
    const cpuBefore = await live.cpuSeconds();
    const sinkCpuBefore = await sink.cpuSeconds();
    const started = process.hrtime.bigint();
    const run = await runSource(s.source, { ...source, port: live.smtpPort, recipient: `relayed@${LOCAL_DOMAIN}` });
    if (!run.ok) problems.push(`relayed smtp-source failed: ${run.stderr}`);
    const after = await pollUntil(() => drained(totals(before).delivered + c.messages), s.timeoutMs, 25);
    const endToEndSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuSeconds = (await live.cpuSeconds()) - cpuBefore;
    diskAfter = await measureDiskFlush(s.relay.workRoot ?? os.tmpdir());
    const sinkCpu = (await sink.cpuSeconds()) - sinkCpuBefore;
    const last = after ?? (await live.status());
    if (!after) problems.push(`not drained within ${s.timeoutMs} ms: delivered ${totals(last).delivered - totals(before).delivered} of ${c.messages}`);
    const count = await sink.count();
    const expected = c.messages + WARM_UP;
    const spoolLeft = await live.spooled();
    if (count.messages !== expected) problems.push(`sink has ${count.messages} messages, expected ${expected} (${WARM_UP} warm-up + ${c.messages})`);
    if (count.distinctRecipients !== expected) problems.push(`sink has ${count.distinctRecipients} distinct recipients, expected ${expected}`);
    if (spoolLeft !== 0) problems.push(`${spoolLeft} messages left in the spool`);
    const refusals = totals(last).rejected + totals(last).deferred - totals(before).rejected - totals(before).deferred;
    if (refusals !== 0) problems.push(`${refusals} refusals (reject/defer) during the run`);
    problems.push(...(await live.problems(5)));
    const cacheOf = (st: RelayStatus) => ('hits' in st.cache ? st.cache : { hits: 0, misses: 0 });
    relayed = {
      acceptedSeconds: run.seconds,
      endToEndSeconds,
      cpuSeconds,
      sourceCpu: run.cpuSeconds,
      sinkCpu,
      dnsQueries: s.dns.queries(),
      dnsblCache: { hits: cacheOf(last).hits - cacheOf(before).hits, misses: cacheOf(last).misses - cacheOf(before).misses },
      atSink: count.messages - WARM_UP,
      distinctRecipients: count.distinctRecipients - WARM_UP,
      spoolLeft,
    };
  } finally {
    await relay?.stop();
    await sink.stop();
  }
  const loadAfter = os.loadavg()[0] ?? 0;
  directRuns.push(await directRun());
  const measured = <T>(what: string, run: Promise<T>) =>
    run.catch((error: unknown) => {
      problems.push(`${what}: ${(error as Error).message}`);
      return undefined;
    });
  const alone = await measured('smtp-server alone', frontAlone(s, { ...source, recipient: `bare@${LOCAL_DOMAIN}` }, ['bare-smtp-server.ts']));
  const minimal = await measured('minimal relay', relayEndToEnd(s, { ...source, recipient: `minimal@${LOCAL_DOMAIN}` }, 'minimal-relay.ts'));
  const floorFront = await measured('node floor front door', frontAlone(s, { ...source, recipient: `floor@${LOCAL_DOMAIN}` }, ['node-floor-relay.ts', '--discard']));
  const floorRelay = await measured('node floor relay', relayEndToEnd(s, { ...source, recipient: `floor@${LOCAL_DOMAIN}` }, 'node-floor-relay.ts'));
  const direct = Math.min(...directRuns.map((d) => d.seconds));
  const fastest = directRuns.find((d) => d.seconds === direct) ?? directRuns[0];
  const perMessageMs = (seconds: number) => round((seconds * 1000) / c.messages, 3);
  const directPerSecond = c.messages / direct;
  const endToEndPerSecond = c.messages / relayed.endToEndSeconds;
  const baseline = (run: { seconds: number; cpuSeconds: number }) => ({
    perSecond: round(c.messages / run.seconds, 0),
    ratio: round(c.messages / run.seconds / directPerSecond, 3),
    cpuPerMessageMs: round((run.cpuSeconds * 1000) / c.messages, 3),
  });
  const acceptedPerSecond = c.messages / relayed.acceptedSeconds;
  return {
    ...c,
    directSeconds: round(direct, 3),
    directRunsPerSecond: directRuns.map((d) => round(c.messages / d.seconds, 0)),
    directPerSecond: round(directPerSecond, 0),
    acceptedSeconds: round(relayed.acceptedSeconds, 3),
    acceptedPerSecond: round(acceptedPerSecond, 0),
    endToEndSeconds: round(relayed.endToEndSeconds, 3),
    endToEndPerSecond: round(endToEndPerSecond, 0),
    ratio: round(endToEndPerSecond / directPerSecond, 3),
    acceptedRatio: round(acceptedPerSecond / directPerSecond, 3),
    relayCpuSeconds: round(relayed.cpuSeconds, 2),
    relayCpuPerMessageMs: round((relayed.cpuSeconds * 1000) / c.messages, 3),
    toolsCpuPerMessageMs: {
      direct: { source: perMessageMs(fastest?.sourceCpu ?? 0), sink: perMessageMs(fastest?.sinkCpu ?? 0) },
      relayed: { source: perMessageMs(relayed.sourceCpu), sink: perMessageMs(relayed.sinkCpu) },
    },
    ...(alone ? { libraryAlone: baseline(alone) } : {}),
    ...(minimal ? { minimalRelay: baseline(minimal) } : {}),
    ...(floorFront || floorRelay ? { nodeFloor: { ...(floorFront ? { front: baseline(floorFront) } : {}), ...(floorRelay ? { relay: baseline(floorRelay) } : {}) } } : {}),
    dnsQueriesDuringRun: relayed.dnsQueries,
    dnsblCache: relayed.dnsblCache,
    ...(diskBefore && diskAfter ? { diskFlushMs: { before: diskBefore, after: diskAfter } } : {}),
    loadAverage: [round(loadBefore, 2), round(loadAfter, 2)],
    check: {
      sent: c.messages,
      directAtSink: Math.min(...directRuns.map((d) => d.atSink)),
      relayedAtSink: relayed.atSink,
      distinctRecipients: relayed.distinctRecipients,
      spoolLeft: relayed.spoolLeft,
      ok: problems.length === 0,
      problems,
    },
  };
}

/** Starts a bench child that prints its listening port on its first line of stdout. */
async function startPortChild(script: string, args: readonly string[]): Promise<{ child: ReturnType<typeof spawn>; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'lib', script), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      setTimeout(() => reject(new Error('did not start within 10 s')), 10_000).unref();
    });
    return { child, port };
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  }
}

/**
 * smtp-source against a baseline relay in bench/lib/ (minimal-relay.ts,
 * node-floor-relay.ts: argv [sink port, spool directory], SIGUSR2 prints how
 * many the upstream accepted), forwarding to a fresh smtp-sink: end-to-end
 * seconds (until the sink holds every message) and the child's CPU seconds,
 * after the same warm-up as the relay.
 */
async function relayEndToEnd(s: ThroughputSettings, source: Omit<Parameters<typeof runSource>[1], 'port'>, script: string): Promise<{ seconds: number; cpuSeconds: number }> {
  const sink = await startSink(s.sink);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-baseline-'));
  try {
    const { child, port } = await startPortChild(script, [String(sink.port), dir]);
    try {
      // Asked by signal, not by reading the sink's dump (15 MB by the end) every 25 ms.
      let delivered = 0;
      child.stdout?.on('data', (chunk: Buffer) => {
        const last = chunk.toString().trim().split('\n').at(-1);
        if (last) delivered = Number(last);
      });
      const atSink = async (target: number) => {
        child.kill('SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, 5));
        return delivered >= target ? true : undefined;
      };
      const warm = await runSource(s.source, { ...source, messages: WARM_UP, port });
      if (!warm.ok) throw new Error(`smtp-source (warm-up) failed: ${warm.stderr}`);
      if (!(await pollUntil(() => atSink(WARM_UP), 30_000))) throw new Error('warm-up messages were not delivered');
      const before = await processCpuSeconds(child.pid as number);
      const started = process.hrtime.bigint();
      const run = await runSource(s.source, { ...source, port });
      if (!run.ok) throw new Error(`smtp-source failed: ${run.stderr}`);
      if (!(await pollUntil(() => atSink(WARM_UP + source.messages), s.timeoutMs, 25))) throw new Error('not every message reached the sink');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuSeconds = (await processCpuSeconds(child.pid as number)) - before;
      const count = await sink.count();
      if (count.messages !== WARM_UP + source.messages) throw new Error(`the sink has ${count.messages} messages, expected ${WARM_UP + source.messages}`);
      return { seconds, cpuSeconds };
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    await sink.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined);
  }
}

/** smtp-source against a front door that accepts and discards (a bench/lib/ script and its arguments), in a child process: seconds and the child's CPU seconds. */
async function frontAlone(s: ThroughputSettings, source: Omit<Parameters<typeof runSource>[1], 'port'>, [script, ...args]: readonly [string, ...string[]]): Promise<{ seconds: number; cpuSeconds: number }> {
  const { child, port } = await startPortChild(script, args);
  try {
    const cpu = () => processCpuSeconds(child.pid as number);
    const warm = await runSource(s.source, { ...source, messages: WARM_UP, port });
    if (!warm.ok) throw new Error(`smtp-source (warm-up) failed: ${warm.stderr}`);
    const before = await cpu();
    const run = await runSource(s.source, { ...source, port });
    if (!run.ok) throw new Error(`smtp-source failed: ${run.stderr}`);
    return { seconds: run.seconds, cpuSeconds: (await cpu()) - before };
  } finally {
    child.kill('SIGTERM');
  }
}
