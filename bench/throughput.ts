// 1. End-to-end relay throughput. For each (message size, concurrency):
//   direct:  smtp-source -> smtp-sink                       (the baseline)
//   relayed: smtp-source -> relayguard -> smtp-sink         (all policies on, fsync on)
// in the same run, on the same machine, with the same sink. One message per
// SMTP connection (MX traffic: connect-time policy and DNSBL per message).
// Two clocks for the relayed path: "accepted" stops when smtp-source has had
// 250 for every message (on disk at the relay), "end to end" when the relay has
// had 250 from the sink for every message. Then the sink's dump is counted:
// delivered = sent, every recipient exactly once, spool empty.
import type { TestDnsServer } from '../test/helpers/dns-server.ts';
import { runSource, startSink } from './lib/postfix-tools.ts';
import { LOCAL_DOMAIN, startRelayChild, type RelayChild, type RelayStatus } from './lib/relay-child.ts';
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
  readonly deliveryConcurrency: number;
  readonly perDestinationConcurrency: number;
  readonly cpuProfDir?: string;
  readonly extraPolicies?: Record<string, string>;
  /** Upper bound for one smtp-source run and for the drain after it. */
  readonly timeoutMs: number;
}

export interface ThroughputResult extends ThroughputCase {
  readonly directSeconds: number;
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
  readonly dnsQueriesDuringRun: number;
  readonly dnsblCache: { hits: number; misses: number };
  readonly check: { sent: number; directAtSink: number; relayedAtSink: number; distinctRecipients: number; spoolLeft: number; ok: boolean; problems: string[] };
}

const SENDER = 'sender@client.example';
const HELO = 'client.example';

const totals = (status: RelayStatus) => status.traffic.totals;

export async function measureThroughput(c: ThroughputCase, s: ThroughputSettings): Promise<ThroughputResult> {
  const problems: string[] = [];
  const source = { messages: c.messages, sessions: c.sessions, payloadBytes: c.payloadBytes, sender: SENDER, helo: HELO, timeoutMs: s.timeoutMs };

  // Direct baseline.
  const directSink = await startSink(s.sink);
  const direct = await runSource(s.source, { ...source, port: directSink.port, recipient: `direct@${LOCAL_DOMAIN}` });
  const directCount = await directSink.count();
  await directSink.stop();
  if (!direct.ok) problems.push(`direct smtp-source failed: ${direct.stderr}`);

  // Relayed.
  const sink = await startSink(s.sink);
  let relay: RelayChild | undefined;
  try {
    relay = await startRelayChild({
      sinkPort: sink.port,
      dnsAddress: s.dns.address,
      deliveryConcurrency: s.deliveryConcurrency,
      perDestinationConcurrency: s.perDestinationConcurrency,
      ...(s.cpuProfDir ? { cpuProfDir: s.cpuProfDir } : {}),
      ...(s.extraPolicies ? { extraPolicies: s.extraPolicies } : {}),
    });
    const live = relay;
    // Warm up: a few messages fill the DNSBL cache and JIT the hot path.
    const warm = await runSource(s.source, { ...source, messages: 50, sessions: 5, port: live.smtpPort, recipient: `warm@${LOCAL_DOMAIN}` });
    if (!warm.ok) problems.push(`warm-up failed: ${warm.stderr}`);
    const drained = async (target: number) => {
      const status = await live.status();
      const queue = status.queue;
      return totals(status).delivered >= target && 'size' in queue && queue.size === 0 ? status : undefined;
    };
    const before = await pollUntil(() => drained(50), 30_000);
    if (!before) throw new Error('warm-up messages were not delivered');
    s.dns.resetCounts();
    const cpuBefore = await live.cpuSeconds();
    const started = process.hrtime.bigint();
    const run = await runSource(s.source, { ...source, port: live.smtpPort, recipient: `relayed@${LOCAL_DOMAIN}` });
    if (!run.ok) problems.push(`relayed smtp-source failed: ${run.stderr}`);
    const after = await pollUntil(() => drained(totals(before).delivered + c.messages), s.timeoutMs, 25);
    const endToEndSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuSeconds = (await live.cpuSeconds()) - cpuBefore;
    const last = after ?? (await live.status());
    if (!after) problems.push(`not drained within ${s.timeoutMs} ms: delivered ${totals(last).delivered - totals(before).delivered} of ${c.messages}`);
    const count = await sink.count();
    const expected = c.messages + 50;
    const spoolLeft = await live.spooled();
    if (count.messages !== expected) problems.push(`sink has ${count.messages} messages, expected ${expected} (50 warm-up + ${c.messages})`);
    if (count.distinctRecipients !== expected) problems.push(`sink has ${count.distinctRecipients} distinct recipients, expected ${expected}`);
    if (spoolLeft !== 0) problems.push(`${spoolLeft} messages left in the spool`);
    const refusals = totals(last).rejected + totals(last).deferred - totals(before).rejected - totals(before).deferred;
    if (refusals !== 0) problems.push(`${refusals} refusals (reject/defer) during the run`);
    problems.push(...(await live.problems(5)));
    const cacheOf = (st: RelayStatus) => ('hits' in st.cache ? st.cache : { hits: 0, misses: 0 });
    const directPerSecond = c.messages / direct.seconds;
    const endToEndPerSecond = c.messages / endToEndSeconds;
    const acceptedPerSecond = c.messages / run.seconds;
    return {
      ...c,
      directSeconds: round(direct.seconds, 3),
      directPerSecond: round(directPerSecond, 0),
      acceptedSeconds: round(run.seconds, 3),
      acceptedPerSecond: round(acceptedPerSecond, 0),
      endToEndSeconds: round(endToEndSeconds, 3),
      endToEndPerSecond: round(endToEndPerSecond, 0),
      ratio: round(endToEndPerSecond / directPerSecond, 3),
      acceptedRatio: round(acceptedPerSecond / directPerSecond, 3),
      relayCpuSeconds: round(cpuSeconds, 2),
      relayCpuPerMessageMs: round((cpuSeconds * 1000) / c.messages, 3),
      dnsQueriesDuringRun: s.dns.queries(),
      dnsblCache: { hits: cacheOf(last).hits - cacheOf(before).hits, misses: cacheOf(last).misses - cacheOf(before).misses },
      check: {
        sent: c.messages,
        directAtSink: directCount.messages,
        relayedAtSink: count.messages - 50,
        distinctRecipients: count.distinctRecipients - 50,
        spoolLeft,
        ok: problems.length === 0 && directCount.messages === c.messages,
        problems,
      },
    };
  } finally {
    await relay?.stop();
    await sink.stop();
  }
}
