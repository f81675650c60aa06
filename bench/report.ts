// The printed table and the verdict on each target of issue 10.
import type { ThroughputResult } from './throughput.ts';
import type { LatencyResult } from './latency.ts';
import type { MemoryResult } from './memory.ts';
import type { MicroResult } from './micro.ts';
import type { ProfileSummary } from './lib/profile-summary.ts';
import { EXPECTED_COLD_QUERIES } from './latency.ts';
import { table } from './lib/stats.ts';

export interface Results {
  readonly machine: Record<string, unknown>;
  readonly settings: Record<string, unknown>;
  readonly throughput: readonly ThroughputResult[];
  readonly latency: readonly LatencyResult[];
  readonly memory?: MemoryResult;
  readonly micro: readonly MicroResult[];
  readonly profile?: ProfileSummary;
}

export interface Target {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | 'not measured';
}

export function targetsOf(r: Results): Target[] {
  const targets: Target[] = [];
  const main = r.throughput.find((t) => t.payloadBytes === 1024 && t.sessions === 50);
  targets.push(
    main
      ? { target: 'end to end >= 40% of direct in every run, 1 KiB, concurrency 50, nothing lost (aim 50%; issue 20)', measured: `${(main.ratio * 100).toFixed(1)}% (${main.endToEndPerSecond} vs ${main.directPerSecond} msgs/s${main.repeats ? `; median of ${main.repeats.length} runs, ${Math.min(...main.repeats.map((x) => x.ratio * 100)).toFixed(1)}-${Math.max(...main.repeats.map((x) => x.ratio * 100)).toFixed(1)}%` : ''}), check ${main.check.ok ? 'ok' : 'FAILED'}`, met: Math.min(main.ratio, ...(main.repeats ?? []).map((x) => x.ratio)) >= 0.4 && main.check.ok }
      : { target: 'end to end >= 40% of direct in every run', measured: '-', met: 'not measured' },
  );
  // The same bar held against the Node floor (no SMTP library, no checks) in
  // the same runs: where the floor misses it, that run's direct path, not
  // any relay, set the figure (issue 20, docs/cpu-budget.md).
  const floors = main ? (main.repeats ?? [main]).map((x) => x.nodeFloor?.relay?.ratio).filter((x): x is number => x !== undefined) : [];
  targets.push(
    floors.length > 0
      ? {
          target: 'the same bar for the Node floor (bench/lib/node-floor-relay.ts): a check of the target, not of relayguard',
          measured: `${Math.min(...floors) === Math.max(...floors) ? `${(floors[0]! * 100).toFixed(1)}%` : `${(Math.min(...floors) * 100).toFixed(1)}-${(Math.max(...floors) * 100).toFixed(1)}% in ${floors.length} runs`}`,
          met: Math.min(...floors) >= 0.4,
        }
      : { target: 'the same bar for the Node floor (a check of the target)', measured: '-', met: 'not measured' },
  );
  const at = (n: number) => r.memory?.points.find((p) => p.connections === n);
  for (const n of [1000, 5000]) {
    const p = at(n);
    // RSS moves in pages and can fill slack the baseline already had; the JS heap
    // delta is steadier. The larger of the two is held against the target. RSS
    // includes V8's young generation growing once when the connections open
    // (memory.ts): it is what an administrator sees, so it counts; the figure
    // without it is shown beside it.
    const worst = p ? Math.max(p.perConnectionKiB, p.heapPerConnectionKiB) : 0;
    targets.push(
      p
        ? {
            target: `< 20 KiB per idle connection (${n})`,
            measured: `${p.perConnectionKiB} KiB RSS (${p.perConnectionExYoungKiB} without the young generation's growth), ${p.heapPerConnectionKiB} KiB JS heap`,
            met: worst < 20,
          }
        : { target: `< 20 KiB per idle connection (${n})`, measured: '-', met: 'not measured' },
    );
  }
  const p1000 = at(1000);
  targets.push(p1000 ? { target: 'RSS < 150 MiB at 1,000 connections', measured: `${p1000.rssMiB} MiB`, met: p1000.rssMiB < 150 } : { target: 'RSS < 150 MiB at 1,000 connections', measured: '-', met: 'not measured' });
  const warm = r.latency.find((l) => l.mode.includes('warm'));
  const runsQueries = r.throughput.reduce((sum, t) => sum + t.dnsQueriesDuringRun, 0);
  targets.push(
    warm || r.throughput.length > 0
      ? { target: 'DNSBL cache hit costs no DNS query', measured: `${warm ? `${warm.dnsQueriesPerTransaction} queries per warm transaction; ` : ''}${runsQueries} queries during ${r.throughput.length} throughput runs`, met: (warm?.dnsQueriesPerTransaction ?? 0) === 0 && runsQueries === 0 }
      : { target: 'DNSBL cache hit costs no DNS query', measured: '-', met: 'not measured' },
  );
  const cold0 = r.latency.find((l) => l.mode.includes('DNS 0 ms'));
  const cold20 = r.latency.find((l) => l.mode.includes('DNS 20 ms'));
  if (cold0 && cold20) {
    const added = cold20.transactionP50Ms - cold0.transactionP50Ms;
    targets.push({
      target: `cold lookup adds at most one DNS round trip (20 ms) per connection, ${EXPECTED_COLD_QUERIES} IP zones`,
      measured: `+${added.toFixed(1)} ms at p50, ${cold20.dnsQueriesPerTransaction} queries per connection`,
      met: added <= 20 * 1.5,
    });
  }
  return targets;
}

/** One run's CPU per message on both paths and the quotient it predicts for e2e/direct. */
function cpuLine(t: Pick<ThroughputResult, 'ratio' | 'relayCpuPerMessageMs' | 'toolsCpuPerMessageMs'>): string {
  const tools = t.toolsCpuPerMessageMs;
  const direct = tools.direct.source + tools.direct.sink;
  const relayed = tools.relayed.source + t.relayCpuPerMessageMs + tools.relayed.sink;
  return (
    `direct smtp-source ${tools.direct.source} + smtp-sink ${tools.direct.sink} = ${direct.toFixed(3)}; ` +
    `relayed smtp-source ${tools.relayed.source} + relay ${t.relayCpuPerMessageMs} + smtp-sink ${tools.relayed.sink} = ${relayed.toFixed(3)}; ` +
    `quotient ${((direct / relayed) * 100).toFixed(1)}% (measured ${(t.ratio * 100).toFixed(1)}%)`
  );
}

export function printReport(r: Results & { targets?: Target[] }): void {
  const m = r.machine;
  console.log(`\nrelayguard bench: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.kernel}`);
  console.log(`settings: ${JSON.stringify(r.settings)}`);
  if (r.throughput.length > 0) {
    console.log('\n1. Throughput (msgs/s; one message per connection; relayed = all policies, fsync, delivered to smtp-sink;');
    console.log('   smtp-server alone = the front-door library accepting and discarding, a ceiling for a relay built on it;');
    console.log('   minimal relay = smtp-server + one fdatasync per group + nodemailer pool, nothing else: the floor of a durable relay)\n');
    console.log(
      table([
        ['size', 'conc', 'direct', 'accepted', 'end-to-end', 'e2e/direct', 'relay CPU ms/msg', 'smtp-server alone (of direct)', 'its CPU ms/msg', 'minimal relay (of direct)', 'its CPU ms/msg', 'DNS queries', 'delivered = sent'],
        ...r.throughput.map((t) => [
          `${t.payloadBytes / 1024} KiB`,
          t.sessions,
          t.directPerSecond,
          t.acceptedPerSecond,
          t.endToEndPerSecond,
          `${(t.ratio * 100).toFixed(1)}%`,
          t.relayCpuPerMessageMs,
          t.libraryAlone ? `${t.libraryAlone.perSecond} (${(t.libraryAlone.ratio * 100).toFixed(1)}%)` : '-',
          t.libraryAlone?.cpuPerMessageMs ?? '-',
          t.minimalRelay ? `${t.minimalRelay.perSecond} (${(t.minimalRelay.ratio * 100).toFixed(1)}%)` : '-',
          t.minimalRelay?.cpuPerMessageMs ?? '-',
          t.dnsQueriesDuringRun,
          t.check.ok ? `yes (${t.check.relayedAtSink}/${t.check.sent})` : `NO: ${t.check.problems.join('; ').slice(0, 200)}`,
        ]),
      ]),
    );
    console.log('\n   CPU per message (ms, user + system) of every process on the path; when they saturate the machine,');
    console.log('   e2e/direct is about the direct path\'s CPU over the relayed path\'s (the quotient):');
    for (const t of r.throughput) {
      for (const run of t.repeats ?? [t]) console.log(`   ${t.payloadBytes / 1024} KiB / ${t.sessions}: ${cpuLine(run)}`);
    }
    const floors = r.throughput.filter((t) => t.nodeFloor);
    if (floors.length > 0) {
      console.log('\n   The floor of any relay in Node (bench/lib/node-floor-relay.ts: node:net, no SMTP library, no checks, O_DSYNC group commit, raw pipelined delivery):');
      const part = (b: { perSecond: number; ratio: number; cpuPerMessageMs: number } | undefined) => (b ? `${b.perSecond} msgs/s (${(b.ratio * 100).toFixed(1)}% of direct) at ${b.cpuPerMessageMs} ms/msg` : '-');
      for (const t of floors) {
        for (const run of t.repeats ?? [t]) console.log(`   ${t.payloadBytes / 1024} KiB / ${t.sessions}: front door alone ${part(run.nodeFloor?.front)}; durable relay ${part(run.nodeFloor?.relay)}`);
      }
    }
    for (const t of r.throughput.filter((x) => x.repeats)) {
      const of = (b: { ratio: number } | undefined) => (b ? `${(b.ratio * 100).toFixed(1)}%` : '-');
      const runs = (t.repeats ?? []).map(
        (x) =>
          `${(x.ratio * 100).toFixed(1)}% (${x.endToEndPerSecond} vs ${x.directPerSecond}, ${x.relayCpuPerMessageMs} ms/msg; smtp-server alone ${of(x.libraryAlone)}, minimal relay ${of(x.minimalRelay)}, Node floor relay ${of(x.nodeFloor?.relay)}${x.diskFlushMs ? `; durable 1 KiB append p50 ${x.diskFlushMs.before.p50Ms}/${x.diskFlushMs.after.p50Ms} ms before/after` : ''})`,
      );
      console.log(`   ${t.payloadBytes / 1024} KiB / ${t.sessions}: ${runs.length} runs, the median shown: ${runs.join('; ')}`);
    }
  }
  if (r.latency.length > 0) {
    console.log('\n2. Latency per message, one at a time (ms)\n');
    console.log(
      table([
        ['mode', 'n', 'transaction p50', 'p99', '"." -> 250 p50', 'p99', 'DNS queries/msg'],
        ...r.latency.map((l) => [l.mode, l.transactions, l.transactionP50Ms, l.transactionP99Ms, l.acceptP50Ms, l.acceptP99Ms, l.dnsQueriesPerTransaction]),
      ]),
    );
  }
  if (r.memory) {
    console.log(
      `\n3. Memory after a full GC: RSS ${r.memory.baselineRssMiB} MiB (JS heap ${r.memory.baselineHeapUsedMiB} MiB, young generation ${r.memory.baselineYoungGenerationMiB} MiB) before connections${r.memory.skipped ? ` (${r.memory.skipped})` : ''}\n`,
    );
    console.log(
      table([
        ['idle connections', 'RSS MiB', 'KiB per connection', 'young gen MiB', 'KiB per conn. w/o its growth', 'JS heap MiB', 'heap KiB per connection'],
        ...r.memory.points.map((p) => [p.connections, p.rssMiB, p.perConnectionKiB, p.youngGenerationMiB, p.perConnectionExYoungKiB, p.heapUsedMiB, p.heapPerConnectionKiB]),
      ]),
    );
  }
  if (r.micro.length > 0) {
    console.log('\n4. Micro-benchmarks\n');
    for (const micro of r.micro) {
      console.log(`${micro.name} (${micro.seconds.toFixed(0)} s): ${micro.error ?? JSON.stringify(micro.figures, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v))}`);
    }
  }
  if (r.profile) {
    console.log(`\nProfile of the relay's main thread (1 KiB, concurrency 50): busy ${r.profile.busyMs} ms of ${r.profile.totalMs} ms; by part:`);
    console.log(r.profile.phases.map((p) => `  ${String(p.share).padStart(5)}%  ${p.phase}`).join('\n'));
    console.log('charged to the nearest function of ours:');
    console.log(r.profile.ours.slice(0, 12).map((a) => `  ${String(a.share).padStart(5)}%  ${a.fn}`).join('\n'));
  }
  if (r.targets) {
    console.log('\nTargets\n');
    console.log(table([['target', 'measured', 'met'], ...r.targets.map((t) => [t.target, t.measured, t.met === true ? 'yes' : t.met === false ? 'NO' : t.met])]));
  }
}
