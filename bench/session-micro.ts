// In-process micro-benchmark of the per-message session work outside I/O:
// the session driver (connect, MAIL with HELO, RCPT, DATA, end of data; facts
// from a stub provider that answers at once) and the observability readers of
// each published Decision (the decision logger through pino at info into a
// counting sink, and the Prometheus counters), and the front door's own reads
// outside the driver ('front': the DNSBL start's client address, the seam's
// read of each of the session's five command lines, the three log lines the
// main thread writes per bench session (RCPT and DATA decisions, connection
// closed) with the clock moving a millisecond every second line). Two checkouts are compared in
// one process, alternated, so a change's cost shows as ns of this thread's CPU per session:
//
//   node --max-semi-space-size=64 --import tsx bench/session-micro.ts --old=DIR [--new=DIR]
//        [--sessions=20000] [--rounds=6] [--part=driver|observability|front]
//
// It also prints the bytes allocated per session (heap growth over small batches;
// run with --max-semi-space-size=64 so a batch fits in the young generation).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { threadCpuNs } from './lib/thread-cpu-stat.ts';

const { values } = parseArgs({ options: { old: { type: 'string' }, new: { type: 'string' }, sessions: { type: 'string' }, rounds: { type: 'string' }, part: { type: 'string' } } });
const here = path.resolve(import.meta.dirname, '..');
const dirs = { old: path.resolve(values.old ?? here), new: path.resolve(values.new ?? here) };
const sessions = Number(values.sessions ?? 20_000);
const rounds = Number(values.rounds ?? 6);
const part = values.part ?? 'all';

type Loaded = { name: string; runDriver: (n: number) => Promise<number>; runObservability: (n: number) => number; runFront: (n: number) => number };

/** What relay-smtp-server.ts's _onCommand read from every command line before src/smtp/command-line.ts (a checkout without it runs this). */
function oldCommandReads(command: Buffer): number {
  const words = command.toString('latin1').trim().split(/\s+/);
  const name = (words[0] ?? '').toUpperCase();
  return name.length + (words.length >= 2 ? 2 : 1) + (/^DATA(\s|$)/i.test(command.toString('latin1')) ? 1 : 0);
}
const COMMANDS = ['EHLO sender.bench.test', 'MAIL FROM:<sender@sender.bench.test>', 'RCPT TO:<user@local.bench.test>', 'DATA', 'QUIT'].map((line) => Buffer.from(line));

async function load(name: string, dir: string): Promise<Loaded> {
  const imp = (file: string) => import(pathToFileURL(path.join(dir, file)).href);
  const { createSessionDriver } = await imp('src/session/session-driver.ts');
  const { testSnapshot } = await imp('test/helpers/policy-snapshot.ts');
  const { DecisionLog } = await imp('src/observability/decision-log.ts');
  const { logDecisions } = await imp('src/observability/decision-logger.ts');
  const { createMetrics } = await imp('src/observability/metrics.ts');
  const { createLogger, silentLogger } = await imp('src/log/logger.ts');
  const { TrafficStats } = await imp('src/observability/traffic-stats.ts');

  const snapshot = testSnapshot();
  const facts = {
    name: 'stub',
    open() {
      return {
        async gather(stage: string) {
          if (stage === 'connect') return { connection: { counts: { global: 3, ip: 1, ipRates: [{ windowMs: 60_000, count: 1 }] } } };
          if (stage === 'mail') return { rate: { exceeded: [], counts: [{ scope: 'ip', name: 'ip.messages', windowMs: 3_600_000, count: 2 }] }, senderDomain: { status: 'ok' } };
          if (stage === 'rcpt') return { rate: { exceeded: [], counts: [{ scope: 'ip', name: 'ip.recipients', windowMs: 3_600_000, count: 2 }] } };
          return {};
        },
        decided() {},
        close() {},
      };
    },
  };
  const driver = createSessionDriver({ hostname: 'relay.example.test', facts: [facts], credentials: { check: async () => ({ facts: { outcome: 'failed' } }) }, logger: silentLogger() });
  const listenerConfig = snapshot.config.listeners[0];
  const listener = { ...listenerConfig, name: 'mx', authOffered: false };
  const message = { size: 1100, bareLineEnding: false, nul: false, longestLine: 76 };
  let sink = 0;

  const runDriver = async (n: number): Promise<number> => {
    let steps = 0;
    for (let i = 0; i < n; i++) {
      const session: Record<string, unknown> = {
        sessionId: `s${i}`, listener, clientIp: '127.0.0.1', clientPort: 40000, peerIp: '127.0.0.1', localIp: '127.0.0.1', localPort: 2525,
        connectedAt: 0, snapshot, tls: false, esmtp: false, recipients: [], rejectedRecipients: 0, errors: 0, messages: 0, steps: [],
      };
      await driver.connect(session);
      session.helo = 'sender.example';
      session.esmtp = true;
      await driver.mail(session, 'sender@sender.example', { BODY: '8BITMIME' });
      await driver.rcpt(session, 'bob@example.test');
      await driver.data(session);
      driver.endOfData(session, message);
      driver.close(session);
      steps += (session.steps as unknown[]).length;
    }
    return steps;
  };

  // What the front door publishes for one accepted message (bench shape).
  const decisions = new DecisionLog();
  const logger = createLogger('info', { write: (line: string) => void (sink += line.length) });
  logDecisions(decisions, logger);
  const sources = { instance: 'bench', version: '0', queue: async () => ({ size: 0, oldestReceivedAt: null, deferredByDomain: [] }), dnsbl: async () => [], cache: async () => ({ hits: 0, misses: 0 }), lastReload: async () => ({ at: 0, ok: true, generation: 1, errors: [] }), ready: async () => ({ listeners: true, spoolWritable: true }) };
  const metrics = createMetrics({ sources, decisions, processMetrics: false });
  const stats = new TrafficStats({ now: () => 1_000_000 });
  stats.attach(decisions);
  // The events are built once: the readers are measured, not the publisher (the front door's #publish).
  const base = { at: 1_000_000, sessionId: 'sbench', clientIp: '127.0.0.1', listener: 'mx' };
  const transaction = { ...base, helo: 'sender.example', sender: 'sender@sender.example' };
  const events = [
    { ...base, decision: { verdict: 'permit', stage: 'connect', rule: 'default', reason: 'ok' } },
    { ...transaction, decision: { verdict: 'dunno', stage: 'mail', rule: 'mail', reason: 'ok' } },
    { ...transaction, recipient: 'bob@example.test', decision: { verdict: 'permit', stage: 'rcpt', rule: 'local-domains', reason: 'rcpt.local_domain' } },
    { ...transaction, decision: { verdict: 'dunno', stage: 'data', rule: 'data', reason: 'ok' } },
    { ...transaction, queueId: 'Qbench', decision: { verdict: 'permit', stage: 'data', rule: 'spool', reason: 'data.queued', reply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as Qbench' } } },
  ];
  const runObservability = (n: number): number => {
    for (let i = 0; i < n; i++) for (const event of events) decisions.publish(event);
    return sink;
  };
  void metrics;

  // The front door's own per-session reads (see the header).
  const { parseClientAddress } = await imp('src/facts/dnsbl/query-name.ts');
  const commandLine = (await imp('src/smtp/command-line.ts').catch(() => undefined)) as
    | { commandVerb: (command: Buffer) => { name: string; hasArgument: boolean }; isDataCommand: (command: Buffer) => boolean }
    | undefined;
  const commandReads = commandLine
    ? (command: Buffer) => {
        const { name, hasArgument } = commandLine.commandVerb(command);
        return name.length + (hasArgument ? 2 : 1) + (commandLine.isDataCommand(command) ? 1 : 0);
      }
    : oldCommandReads;
  const frontLogger = createLogger('info', { write: (line: string) => void (sink += line.length) });
  const closeLine = { session: 'sbench', listener: 'mx', client: '127.0.0.1', peer: undefined, helo: 'sender.example', user: undefined, tls: false, messages: 1, rejectedRecipients: 0, errors: 0, durationMs: 12 };
  const realNow = Date.now;
  let tick = 1_796_000_000_000;
  const runFront = (n: number): number => {
    let total = 0;
    Date.now = () => 1_796_000_000_000 + (tick++ >> 1);
    try {
      for (let i = 0; i < n; i++) {
        total += (parseClientAddress('203.0.113.9') as { reversed: string }).reversed.length;
        for (const command of COMMANDS) total += commandReads(command);
        frontLogger.info({ decision: 'permit', stage: 'rcpt', session: 'sbench', to: 'bob@example.test' }, 'decision');
        frontLogger.info({ decision: 'permit', stage: 'data', session: 'sbench', queueId: 'Qbench' }, 'decision');
        frontLogger.info(closeLine, 'session closed');
      }
    } finally {
      Date.now = realNow;
    }
    return total + sink;
  };
  return { name, runDriver, runObservability, runFront };
}

const a = await load('old', dirs.old);
const b = await load('new', dirs.new);
type Kind = 'driver' | 'observability' | 'front';
const kinds: Kind[] = part === 'all' ? ['driver', 'observability', 'front'] : [part as Kind];
const run = async (kind: Kind, impl: Loaded, n: number) => (kind === 'driver' ? impl.runDriver(n) : kind === 'front' ? impl.runFront(n) : impl.runObservability(n));
const times: Record<string, number[]> = {};
const allocated: Record<string, number[]> = {};
// Warm-up: V8 tiers the code up over the first tens of thousands of calls.
for (let w = 0; w < 3; w++) for (const impl of [a, b]) for (const kind of kinds) await run(kind, impl, sessions);
for (let r = 0; r < rounds; r++) {
  for (const impl of r % 2 === 0 ? [a, b] : [b, a]) {
    for (const kind of kinds) {
      const t0 = threadCpuNs();
      await run(kind, impl, sessions);
      (times[`${kind} ${impl.name}`] ??= []).push(Number(threadCpuNs() - t0) / sessions);
      // Bytes allocated per session: heap growth over a batch small enough to fit in the young generation
      // (run with --max-semi-space-size=64); a batch during which a GC ran (the heap shrank) is not counted.
      for (let k = 0; k < 5; k++) {
        const before = process.memoryUsage().heapUsed;
        await run(kind, impl, 200);
        const grown = process.memoryUsage().heapUsed - before;
        if (grown > 0) (allocated[`${kind} ${impl.name}`] ??= []).push(grown / 200);
      }
    }
  }
}
const median = (xs: number[] = []) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
const min = (xs: number[] = []) => Math.min(...xs);
for (const kind of kinds) {
  const o = times[`${kind} old`], n = times[`${kind} new`];
  console.log(`${kind} ns/session: old min ${min(o).toFixed(0)} median ${median(o).toFixed(0)} [${o?.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`${kind} ns/session: new min ${min(n).toFixed(0)} median ${median(n).toFixed(0)} [${n?.map((x) => x.toFixed(0)).join(' ')}]  new/old (min) ${(min(n) / min(o)).toFixed(3)}`);
  console.log(`${kind} bytes/session (median of batches): old ${median(allocated[`${kind} old`]).toFixed(0)}, new ${median(allocated[`${kind} new`]).toFixed(0)}`);
}
