// 3. Memory per idle connection: the relay's RSS (from /proc) after a warm-up,
// then with N connections held open, each greeted and past EHLO, doing
// nothing. Per connection = (RSS with N - RSS before) / N. Every reading is
// taken right after a full GC in the relay (bench/lib/gc-on-signal.js), so it
// counts what the connections keep alive, not garbage that happens to be
// uncollected; the JS heap share is reported next to it. So is the size of
// V8's young generation, which a burst of connections grows (16 -> ~23 MiB
// for 1,000 here) by its allocation, not by their number; the per-connection
// figure that leaves that growth out is the one the target is judged on
// (report.ts).
import { readFile } from 'node:fs/promises';
import { SmtpTalk } from '../test/helpers/smtp-talk.ts';
import { SENDER_DOMAIN, type RelayChild } from './lib/relay-child.ts';
import { round, sleep } from './lib/stats.ts';

export interface MemoryPoint {
  readonly connections: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly perConnectionKiB: number;
  /** Of which on the JS heap (the rest: sockets, buffers, native). */
  readonly heapPerConnectionKiB: number;
  /** V8's young generation (new space) after the GC: empty, but resident at this size. */
  readonly youngGenerationMiB: number;
  /** perConnectionKiB without the growth of the young generation since the baseline. */
  readonly perConnectionExYoungKiB: number;
}

export interface MemoryResult {
  readonly baselineRssMiB: number;
  readonly baselineHeapUsedMiB: number;
  readonly baselineYoungGenerationMiB: number;
  readonly points: MemoryPoint[];
  readonly skipped?: string;
}

/** This process's soft limit on open files (each held connection costs one here and one in the relay). */
export async function openFileLimit(): Promise<number> {
  const text = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const soft = /Max open files\s+(\d+|unlimited)/.exec(text)?.[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

async function openIdle(port: number): Promise<SmtpTalk> {
  const talk = await SmtpTalk.connect({ port, timeoutMs: 30_000 });
  const greeting = await talk.read();
  if (greeting?.code !== 220) throw new Error(`greeting: ${greeting?.code} ${greeting?.text}`);
  const ehlo = await talk.command(`EHLO ${SENDER_DOMAIN}`);
  if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
  return talk;
}

/** Two GCs a moment apart; the second reading (finalizers and weak callbacks have run). */
async function reading(relay: RelayChild): Promise<{ rss: number; heapUsed: number; youngGeneration: number }> {
  await relay.fullGc();
  await sleep(500);
  return relay.fullGc();
}

export async function measureMemory(relay: RelayChild, steps: readonly number[]): Promise<MemoryResult> {
  const limit = await openFileLimit();
  const wanted = Math.max(...steps);
  const usable = steps.filter((n) => n + 200 <= limit);
  const skipped = usable.length < steps.length ? `open-file limit ${limit}: raise it (ulimit -n ${wanted + 1000}) for ${wanted} connections` : undefined;
  await sleep(1000);
  const baseline = await reading(relay);
  const held: SmtpTalk[] = [];
  const points: MemoryPoint[] = [];
  try {
    for (const target of usable) {
      while (held.length < target) {
        const batch = Math.min(100, target - held.length);
        held.push(...(await Promise.all(Array.from({ length: batch }, () => openIdle(relay.smtpPort)))));
      }
      const now = await reading(relay);
      points.push({
        connections: target,
        rssMiB: round(now.rss / 2 ** 20, 1),
        heapUsedMiB: round(now.heapUsed / 2 ** 20, 1),
        perConnectionKiB: round((now.rss - baseline.rss) / target / 1024, 1),
        heapPerConnectionKiB: round((now.heapUsed - baseline.heapUsed) / target / 1024, 1),
        youngGenerationMiB: round(now.youngGeneration / 2 ** 20, 1),
        perConnectionExYoungKiB: round((now.rss - baseline.rss - (now.youngGeneration - baseline.youngGeneration)) / target / 1024, 1),
      });
    }
  } finally {
    for (const talk of held) talk.close();
  }
  return {
    baselineRssMiB: round(baseline.rss / 2 ** 20, 1),
    baselineHeapUsedMiB: round(baseline.heapUsed / 2 ** 20, 1),
    baselineYoungGenerationMiB: round(baseline.youngGeneration / 2 ** 20, 1),
    points,
    ...(skipped ? { skipped } : {}),
  };
}
