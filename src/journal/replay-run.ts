// One replay of the journal under a candidate policy: what `relayguard
// replay`, `relayguard check`, the guarded reload and the dashboard run.
import { performance } from 'node:perf_hooks';
import type { PolicySnapshot } from '../config/snapshot.ts';
import { emptyReadStats, readJournal, type ReadRange, type ReadStats } from './journal-segment.ts';
import { Replayer, emptySummary, groupIndex, summarize, type ReplaySummary } from './replay.ts';
import { canReplayInWorkers, replayInOneWorker, replaySegmentsInWorkers } from './replay-pool.ts';

export interface ReplayRunOptions {
  readonly journalDir: string;
  readonly candidate: PolicySnapshot;
  readonly range?: ReadRange;
  /** Replay at most this many sessions (the newest first when set). */
  readonly maxSessions?: number;
  /** Gives the event loop a turn every this many sessions (in this thread only); default 500. */
  readonly yieldEvery?: number;
  /**
   * Worker threads (replay-pool.ts): 0 or absent replays in this thread; N
   * replays the segments on up to N workers (with maxSessions: the whole
   * replay in one worker, off this thread's event loop). A candidate that was
   * not loaded from the policy files is replayed in this thread.
   */
  readonly jobs?: number;
}

export interface ReplayRun {
  readonly summary: ReplaySummary;
  readonly read: ReadStats;
  readonly durationMs: number;
  /** True when maxSessions cut the replay short. */
  readonly truncated: boolean;
  /** Worker threads used (0: this thread). */
  readonly workers: number;
}

export async function replayJournal(options: ReplayRunOptions): Promise<ReplayRun> {
  const jobs = options.jobs ?? 0;
  if (jobs < 1 || !canReplayInWorkers(options.candidate)) return replayInThread(options);
  const started = performance.now();
  const range = options.range ?? {};
  const result =
    options.maxSessions !== undefined
      ? await replayInOneWorker(options.journalDir, options.candidate, range, options.maxSessions)
      : await replaySegmentsInWorkers(options.journalDir, options.candidate, range, jobs);
  return { summary: result.summary, read: result.read, truncated: result.truncated, workers: result.workers, durationMs: performance.now() - started };
}

/** The replay in this thread (a worker runs this too). */
export async function replayInThread(options: ReplayRunOptions): Promise<ReplayRun> {
  const started = performance.now();
  const replayer = new Replayer(options.candidate);
  const summary = emptySummary();
  const index = groupIndex(summary);
  const read = emptyReadStats();
  const yieldEvery = options.yieldEvery ?? 500;
  let truncated = false;
  let n = 0;
  await readJournal(
    options.journalDir,
    { ...(options.range ?? {}), ...(options.maxSessions !== undefined ? { newestFirst: true } : {}) },
    read,
    async (record) => {
      if (options.maxSessions !== undefined && n >= options.maxSessions) {
        truncated = true;
        return false;
      }
      n++;
      summarize(summary, await replayer.replay(record), index);
      if (n % yieldEvery === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      return true;
    },
  );
  return { summary, read, durationMs: performance.now() - started, truncated, workers: 0 };
}

/** Exit status of `relayguard replay`: 0 no change, 1 changes, 3 a relay opening. */
export function replayExitCode(summary: ReplaySummary): number {
  if (summary.relayOpenings.count > 0) return 3;
  return summary.changes > 0 ? 1 : 0;
}
