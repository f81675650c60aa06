// Shared (Redis) vs in-process counters: node --import tsx bench/cluster.ts [seconds-per-phase] [rounds]
// (needs redis-server; TMPDIR=/dev/shm keeps the spool's fsync latency out of
// the end-to-end figures). Everything in one run, so the figures are ratios
// on the same machine; a redis-server of its own on a free loopback port.
//
// 1. Counters alone: what the limits count for one message from an outside
//    client with limits.toml defaults (connection rate at connect, the message
//    at MAIL, the recipient at RCPT: three add() calls, one after the other as
//    the SMTP stages come), through the in-process FlexibleRateCounter and
//    through SharedRateCounter on Redis, up and down. Sequential (the latency
//    a session pays) and 64 sessions at once (the cost per message under load).
// 2. The whole relay (startRelay) on loopback delivering to a recording sink,
//    CONNECTIONS clients each sending one message after another on its own
//    connection: in-process counters, Redis up, Redis stopped (fail open:
//    the link is down, nothing waits), Redis hung (SIGSTOP: one command times
//    out, then the link is down). Reported: messages/s and the ratio to the
//    in-process baseline, p50/p95 latency.
import { performance } from 'node:perf_hooks';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSmtpSink } from '../test/helpers/smtp-sink.ts';
import { smarthostTo, startHarness, eventually, type RelayHarness } from '../test/helpers/relay-harness.ts';
import { startRedisServer, type RedisServer } from '../test/helpers/cluster-servers.ts';
import { FlexibleRateCounter } from '../src/facts/limits/rate-counter.ts';
import type { RateCounter } from '../src/facts/limits/counters.ts';
import { SharedRateCounter } from '../src/cluster/shared-rate-counter.ts';
import { openRedisLink } from '../src/cluster/redis-link.ts';
import { silentLogger } from '../src/log/logger.ts';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4);
const WINDOWS = [60_000, 3_600_000, 3_600_000] as const; // conn 60/1m, messages 500/1h, recipients 2000/1h
const KEYS = ['conn:', 'msg:ip:', 'rcpt:ip:'] as const;

const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
};
const median = (values: readonly number[]): number => percentile(values, 50);

/** One message's counting: three adds in stage order, for client `i`. */
async function countMessage(counter: RateCounter, i: number): Promise<void> {
  const client = `198.51.${(i >> 8) & 255}.${i & 255}`;
  for (let stage = 0; stage < 3; stage++) await counter.add(`${KEYS[stage]}${client}`, WINDOWS[stage] as number);
}

/** µs per message: `messages` one after another, or `parallel` sessions at once. */
async function counterCost(counter: RateCounter, messages: number, parallel: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < messages) await countMessage(counter, next++);
  }));
  return ((performance.now() - started) * 1000) / messages;
}

async function counters(redis: RedisServer, rounds: number): Promise<void> {
  const link = openRedisLink({ url: redis.url, instance: 'bench', commandTimeoutMs: 200, failOpen: true, logger: silentLogger() });
  await link.waitReady(5000);
  const memory = new FlexibleRateCounter();
  const shared = new SharedRateCounter({ link, keyPrefix: `bench:${Date.now()}:`, failOpen: true });
  const phases: Array<[string, RateCounter, () => Promise<void>]> = [
    ['in-process', memory, async () => undefined],
    ['Redis up', shared, async () => undefined],
    ['Redis down (fallback)', shared, async () => {
      await redis.stop();
      await eventually(() => !link.health.usable, 5000, 'the outage');
    }],
  ];
  const results = new Map<string, { seq: number[]; par: number[] }>(phases.map(([name]) => [name, { seq: [], par: [] }]));
  await counterCost(memory, 2000, 1); // warm-up (JIT)
  await counterCost(shared, 2000, 1);
  for (let round = 0; round < rounds; round++) {
    for (const [name, counter, before] of phases) {
      await before();
      const result = results.get(name);
      result?.seq.push(await counterCost(counter, 3000, 1));
      result?.par.push(await counterCost(counter, 20_000, 64));
    }
    await redis.start();
    await eventually(() => link.health.usable, 15_000, 'Redis back');
  }
  await link.close();
  const base = results.get('in-process');
  console.log(`counters: 3 adds per message (connect, MAIL, RCPT), medians of ${rounds} rounds`);
  for (const [name, r] of results) {
    console.log(
      `  ${name.padEnd(24)} sequential ${median(r.seq).toFixed(1).padStart(7)} µs/msg (x${(median(r.seq) / median(base?.seq ?? [])).toFixed(1)})` +
        `   64 sessions ${median(r.par).toFixed(1).padStart(7)} µs/msg (x${(median(r.par) / median(base?.par ?? [])).toFixed(1)})`,
    );
  }
}

/** `CONNECTIONS` senders, each one message after another on its own connection, for `seconds`. */
async function drive(port: number, seconds: number): Promise<{ sent: number; failed: number; latencies: number[] }> {
  const latencies: number[] = [];
  let failed = 0;
  const deadline = performance.now() + seconds * 1000;
  const body = `From: alice@other.example\r\nTo: bob@example.test\r\nSubject: bench\r\n\r\n${'x'.repeat(76)}\r\n`;
  await Promise.all(Array.from({ length: CONNECTIONS }, async (_, i) => {
    const connection = new SMTPConnection({ host: '127.0.0.1', port, localAddress: `127.0.1.${i + 1}`, name: 'mta.other.example', ignoreTLS: true, socketTimeout: 30_000 } as ConstructorParameters<typeof SMTPConnection>[0]);
    await new Promise<void>((resolve, reject) => {
      connection.once('error', reject);
      connection.connect(() => resolve());
    });
    connection.on('error', () => undefined);
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        await new Promise<void>((resolve, reject) => connection.send({ from: 'alice@other.example', to: ['bob@example.test'] }, body, (err) => (err ? reject(err) : resolve())));
        latencies.push(performance.now() - started);
      } catch {
        if (++failed > 100) break;
      }
    }
    connection.quit();
  }));
  return { sent: latencies.length, failed, latencies };
}

type Mode = 'in-process' | 'Redis up' | 'Redis down' | 'Redis hung (SIGSTOP)';

async function relayPhase(mode: Mode, redis: RedisServer, seconds: number) {
  const sink = await startSmtpSink();
  const cluster = mode === 'in-process' ? '' : `[cluster]\nredis = "${redis.url}"\ninstance = "bench"\ncommand_timeout = "200ms"\nkey_prefix = "bench-${Date.now()}:"\n`;
  const harness: RelayHarness = await startHarness({
    config: `[[listeners]]\nname = "mx"\naddress = "127.0.0.1:0"\nrole = "mx"\ntls = "none"\n[http]\nenabled = false\n${smarthostTo(sink.port)}${cluster}`,
    // limits.toml defaults, with the message and recipient windows so wide that they count but never refuse.
    policies: { 'local-domains': 'example.test\n', 'limits.toml': '[ip]\nmessages = "100000000/1h"\nrecipients = "100000000/1h"\n' },
    logLevel: 'fatal',
  });
  try {
    if (mode === 'Redis down') {
      await redis.stop();
      await eventually(() => harness.relay.cluster?.status().up === false, 5000, 'the outage');
    }
    if (mode === 'Redis hung (SIGSTOP)') redis.pause();
    const result = await drive(harness.port('mx'), seconds);
    return { messagesPerSecond: result.sent / seconds, failed: result.failed, p50: percentile(result.latencies, 50), p95: percentile(result.latencies, 95) };
  } finally {
    await harness.stop();
    await sink.close();
    if (mode === 'Redis hung (SIGSTOP)') redis.resume();
    if (mode === 'Redis down') await redis.start();
  }
}

async function relays(redis: RedisServer, seconds: number, rounds: number): Promise<void> {
  const modes: Mode[] = ['in-process', 'Redis up', 'Redis down', 'Redis hung (SIGSTOP)'];
  await relayPhase('in-process', redis, 1); // warm-up
  const runs = new Map<Mode, Array<Awaited<ReturnType<typeof relayPhase>>>>(modes.map((m) => [m, []]));
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) runs.get(mode)?.push(await relayPhase(mode, redis, seconds));
  }
  const rate = (mode: Mode): number => median((runs.get(mode) ?? []).map((r) => r.messagesPerSecond));
  console.log(`whole relay: ${CONNECTIONS} senders, one message after another each, ${rounds} rounds of ${seconds}s (medians)`);
  for (const mode of modes) {
    const results = runs.get(mode) ?? [];
    console.log(
      `  ${mode.padEnd(22)} ${rate(mode).toFixed(1).padStart(7)} msg/s (x${(rate(mode) / rate('in-process')).toFixed(2)}; rounds ${results.map((r) => r.messagesPerSecond.toFixed(0)).join('/')}), ` +
        `p50 ${median(results.map((r) => r.p50)).toFixed(1)} ms, p95 ${median(results.map((r) => r.p95)).toFixed(1)} ms, failed ${results.reduce((n, r) => n + r.failed, 0)}`,
    );
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 6);
  const rounds = Number(process.argv[3] ?? 3);
  const redis = await startRedisServer();
  try {
    await counters(redis, rounds);
    await relays(redis, seconds, rounds);
  } finally {
    await redis.close();
  }
}

await main();
