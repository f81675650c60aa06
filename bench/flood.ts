// Connection flood benchmark: node --import tsx bench/flood.ts [seconds-per-phase] [rounds]
// (FLOOD_WORKERS=N for more parallel flood connections; TMPDIR=/dev/shm keeps
// disk fsync latency, which dominates on a shared disk, out of the figures.)
// The whole relay (startRelay, with the default limits.toml values except the
// per-IP message and recipient windows, opened wide so the honest sender is
// measured, not limited) on loopback, delivering to a recording sink. Two
// load generators in their own worker threads:
//   honest   127.0.0.4, one SMTP connection, one message after another
//            (MAIL, RCPT, DATA), as an MTA with a queue to a busy MX would;
//   flooder  127.0.0.3, 50 workers (FLOOD_WORKERS) connecting as fast as they can, each
//            reading the greeting and saying QUIT when it gets one.
// Phases, in one run (so the figures are ratios on the same machine):
//   1. baseline        honest alone
//   2. flood + limits  honest while the flood runs, limits.toml defaults
//   3. flood, no limits  the same flood with every connection limit off
// Reported: the honest sender's messages/s (and ratio to the baseline), its
// latency per message, and the flood's connections per second, refused
// (421 4.7.0) and accepted. Caveat: on one machine the flooder competes with
// the relay for the CPU; a real flood comes from elsewhere.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSmtpSink } from '../test/helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness } from '../test/helpers/relay-harness.ts';

interface Job {
  readonly role: 'honest' | 'flooder';
  readonly port: number;
  readonly seconds: number;
}

interface HonestResult {
  readonly sent: number;
  readonly failed: number;
  readonly latenciesMs: number[];
}

interface FloodResult {
  readonly attempts: number;
  readonly refused: number;
  readonly accepted: number;
  readonly errors: number;
}

const FLOOD_WORKERS = Number(process.env.FLOOD_WORKERS ?? 50);

async function honest(job: Job): Promise<HonestResult> {
  const connection = new SMTPConnection({ host: '127.0.0.1', port: job.port, localAddress: '127.0.0.4', name: 'mta.other.example', ignoreTLS: true, socketTimeout: 30_000 } as ConstructorParameters<typeof SMTPConnection>[0]);
  await new Promise<void>((resolve, reject) => {
    connection.once('error', reject);
    connection.connect(() => resolve());
  });
  connection.on('error', () => undefined);
  const latenciesMs: number[] = [];
  let failed = 0;
  const body = `From: alice@other.example\r\nTo: bob@example.test\r\nSubject: bench\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(1);
  const deadline = performance.now() + job.seconds * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    try {
      await new Promise<void>((resolve, reject) => connection.send({ from: 'alice@other.example', to: ['bob@example.test'] }, body, (err) => (err ? reject(err) : resolve())));
      latenciesMs.push(performance.now() - started);
    } catch {
      failed++;
      if (failed > 100) break;
    }
  }
  connection.quit();
  return { sent: latenciesMs.length, failed, latenciesMs };
}

/** One flood connection: resolves with the greeting's code (0 = no greeting). */
function floodOnce(port: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
    let buffer = '';
    let code = 0;
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const line = /^(\d{3})[ -]/.exec(buffer);
      if (line && code === 0) {
        code = Number(line[1]);
        if (code === 220) socket.end('QUIT\r\n');
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function flooder(job: Job): Promise<FloodResult> {
  const result = { attempts: 0, refused: 0, accepted: 0, errors: 0 };
  const deadline = performance.now() + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: FLOOD_WORKERS }, async () => {
      while (performance.now() < deadline) {
        result.attempts++;
        const code = await floodOnce(job.port);
        if (code === 220) result.accepted++;
        else if (code === 421) result.refused++;
        else result.errors++;
      }
    }),
  );
  return result;
}

function run<T>(job: Job): Promise<T> {
  return new Promise((resolve, reject) => {
    // Node 20 does not load a .ts worker entry through tsx: register tsx in the worker first.
    const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(bootstrap, { eval: true, workerData: job });
    worker.once('message', (message: T) => resolve(message));
    worker.once('error', reject);
  });
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function phase(name: string, limits: string, seconds: number, withFlood: boolean) {
  const sink = await startSmtpSink();
  const harness = await startHarness({
    config: HARNESS_LISTENERS + smarthostTo(sink.port),
    policies: { 'local-domains': 'example.test\n', 'limits.toml': limits, 'checks.toml': '[sender_domain]\nreject_unknown = false\n' },
    logLevel: 'warn',
  });
  const port = harness.port('mx');
  try {
    const flood = withFlood ? run<FloodResult>({ role: 'flooder', port, seconds }) : Promise.resolve(undefined);
    // Let the flood reach full speed before the honest sender starts; both end together.
    if (withFlood) await new Promise((resolve) => setTimeout(resolve, 500));
    const honestResult = await run<HonestResult>({ role: 'honest', port, seconds: withFlood ? seconds - 0.5 : seconds });
    const floodResult = await flood;
    const honestSeconds = withFlood ? seconds - 0.5 : seconds;
    return {
      name,
      messagesPerSecond: honestResult.sent / honestSeconds,
      failed: honestResult.failed,
      p50: percentile(honestResult.latenciesMs, 50),
      p95: percentile(honestResult.latenciesMs, 95),
      flood: floodResult && {
        attemptsPerSecond: floodResult.attempts / seconds,
        refusedPerSecond: floodResult.refused / seconds,
        acceptedPerSecond: floodResult.accepted / seconds,
        errors: floodResult.errors,
      },
    };
  } finally {
    await harness.stop();
    await sink.close();
  }
}

type PhaseResult = Awaited<ReturnType<typeof phase>>;

const median = (values: readonly number[]): number => percentile(values, 50);

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 8);
  const rounds = Number(process.argv[3] ?? 3);
  // limits.toml defaults, except the honest sender's own message/recipient windows.
  const limits = '[ip]\nmessages = "off"\nrecipients = "off"\n';
  const noLimits = '[global]\nmax_connections = 0\n[ip]\nmax_connections = 0\nconnections = "off"\nmessages = "off"\nrecipients = "off"\n';
  const configs = [
    { name: 'baseline (no flood)', limits, flood: false },
    { name: 'flood, limits.toml defaults', limits, flood: true },
    { name: 'flood, connection limits off', limits: noLimits, flood: true },
  ];
  // A short warm-up (JIT, first spool files), then the phases interleaved
  // round by round, so drift on a shared machine hits every phase alike.
  await phase('warm-up', limits, 2, false);
  const runs = new Map<string, PhaseResult[]>(configs.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const config of configs) runs.get(config.name)?.push(await phase(config.name, config.limits, seconds, config.flood));
  }
  const rate = (name: string): number => median((runs.get(name) ?? []).map((r) => r.messagesPerSecond));
  const base = rate('baseline (no flood)');
  console.log(`flood bench: ${rounds} rounds of ${seconds}s per phase (medians), ${FLOOD_WORKERS} flood workers from 127.0.0.3, one honest connection from 127.0.0.4`);
  for (const config of configs) {
    const results = runs.get(config.name) ?? [];
    const perRound = results.map((r) => r.messagesPerSecond.toFixed(0)).join('/');
    const flood = results.map((r) => r.flood).filter((f) => f !== undefined);
    console.log(
      `${config.name.padEnd(30)} honest ${rate(config.name).toFixed(1).padStart(6)} msg/s (x${(rate(config.name) / base).toFixed(2)}; rounds ${perRound}), ` +
        `p50 ${median(results.map((r) => r.p50)).toFixed(1)} ms, p95 ${median(results.map((r) => r.p95)).toFixed(1)} ms, failed ${results.reduce((n, r) => n + r.failed, 0)}` +
        (flood.length > 0
          ? ` | flood ${median(flood.map((f) => f.attemptsPerSecond)).toFixed(0)} conn/s: refused ${median(flood.map((f) => f.refusedPerSecond)).toFixed(0)}/s, accepted ${median(flood.map((f) => f.acceptedPerSecond)).toFixed(1)}/s, errors ${flood.reduce((n, f) => n + f.errors, 0)}`
          : ''),
    );
  }
}

if (isMainThread) {
  await main();
} else {
  const job = workerData as Job;
  parentPort?.postMessage(job.role === 'honest' ? await honest(job) : await flooder(job));
}
