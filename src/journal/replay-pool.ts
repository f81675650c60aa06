// A journal replay on worker threads (node:worker_threads): the segments are
// handed out one at a time to at most `jobs` workers (each replays a whole
// segment under the candidate and answers its summary), and the summaries are
// merged in journal order, so counts and examples (the earliest of each group)
// are exactly those of a replay in one thread. A guard replay (newest first, a
// session cap) runs whole in one worker: off the relay's event loop.
//
// A worker loads the candidate from the texts the main thread loaded it from
// (config/load-policy.ts policySources): a snapshot holds classes and does
// not cross threads, and the disk may have changed since.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PolicySnapshot } from '../config/snapshot.ts';
import { policySources } from '../config/load-policy.ts';
import { workerEntryUrl } from '../delivery/worker-entry.ts';
import { emptyReadStats, listSegments, segmentInRange, type ReadRange, type ReadStats, type SegmentFile } from './journal-segment.ts';
import { emptySummary, groupIndex, mergeSummary, type ReplaySummary } from './replay.ts';
import type { ReplayWorkerData } from './replay-worker.ts';

export type ToReplayWorker =
  | { readonly kind: 'segment'; readonly file: string; readonly range: ReadRange }
  | { readonly kind: 'run'; readonly journalDir: string; readonly range: ReadRange; readonly maxSessions?: number };

export type FromReplayWorker =
  | { readonly kind: 'segment'; readonly summary: ReplaySummary; readonly read: ReadStats }
  | { readonly kind: 'run'; readonly summary: ReplaySummary; readonly read: ReadStats; readonly truncated: boolean }
  | { readonly kind: 'error'; readonly message: string };

/** Workers a replay uses when not told: one per CPU the process may use. */
export function defaultReplayJobs(): number {
  return Math.max(1, os.availableParallelism());
}

/** Whether `candidate` can be replayed in a worker (it was loaded from the policy files; see the header). */
export function canReplayInWorkers(candidate: PolicySnapshot): boolean {
  return policySources(candidate) !== undefined;
}

class ReplayWorker {
  readonly #worker: Worker;
  #pending: { resolve: (m: FromReplayWorker) => void; reject: (e: Error) => void } | undefined;
  #failed: Error | undefined;

  constructor(data: ReplayWorkerData) {
    this.#worker = new Worker(workerEntryUrl('journal/replay-worker.ts'), { workerData: data });
    this.#worker.on('message', (message: FromReplayWorker) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (message.kind === 'error') pending?.reject(new Error(message.message));
      else pending?.resolve(message);
    });
    const fail = (error: Error): void => {
      this.#failed ??= error;
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(error);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`replay worker exited (code ${code})`)));
  }

  ask(message: ToReplayWorker): Promise<FromReplayWorker> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    this.#worker.on('exit', () => undefined);
    await this.#worker.terminate();
  }
}

function workerData(candidate: PolicySnapshot): ReplayWorkerData {
  const sources = policySources(candidate);
  if (!sources) throw new Error('this candidate policy was not loaded from policy files: it cannot be replayed in a worker');
  return { sources, generation: candidate.generation, loadedAt: candidate.loadedAt.getTime() };
}

export interface PoolResult {
  readonly summary: ReplaySummary;
  readonly read: ReadStats;
  readonly truncated: boolean;
  /** Workers started. */
  readonly workers: number;
}

/** Every segment in range, replayed by up to `jobs` workers, merged in journal order. */
export async function replaySegmentsInWorkers(journalDir: string, candidate: PolicySnapshot, range: ReadRange, jobs: number): Promise<PoolResult> {
  const data = workerData(candidate);
  const all = await listSegments(journalDir);
  const todo: SegmentFile[] = [];
  for (let i = 0; i < all.length; i++) {
    const where = segmentInRange(all, i, range);
    if (where === 'past') break;
    if (where === 'yes') todo.push(all[i] as SegmentFile);
  }
  const summary = emptySummary();
  const read = emptyReadStats();
  if (todo.length === 0) return { summary, read, truncated: false, workers: 0 };
  const count = Math.max(1, Math.min(jobs, todo.length));
  const workers = Array.from({ length: count }, () => new ReplayWorker(data));
  const parts: Array<Extract<FromReplayWorker, { kind: 'segment' }> | undefined> = new Array(todo.length);
  const index = groupIndex(summary);
  let merged = 0;
  let next = 0;
  // Merged as soon as every earlier segment is: memory holds the parts that finished early only.
  const mergeReady = (): void => {
    for (let part = parts[merged]; part !== undefined; part = parts[merged]) {
      mergeSummary(summary, part.summary, index);
      for (const key of Object.keys(read) as Array<keyof ReadStats>) read[key] += part.read[key];
      parts[merged] = undefined;
      merged++;
    }
  };
  try {
    await Promise.all(
      workers.map(async (worker) => {
        for (let i = next++; i < todo.length; i = next++) {
          const answer = await worker.ask({ kind: 'segment', file: (todo[i] as SegmentFile).file, range });
          if (answer.kind !== 'segment') throw new Error(`replay worker answered ${answer.kind} to a segment`);
          parts[i] = answer;
          mergeReady();
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
  return { summary, read, truncated: false, workers: count };
}

/** The whole replay (newest first with a cap, as the guard asks) in one worker: the caller's event loop stays free. */
export async function replayInOneWorker(journalDir: string, candidate: PolicySnapshot, range: ReadRange, maxSessions: number | undefined): Promise<PoolResult> {
  const worker = new ReplayWorker(workerData(candidate));
  try {
    const answer = await worker.ask({ kind: 'run', journalDir, range, ...(maxSessions !== undefined ? { maxSessions } : {}) });
    if (answer.kind !== 'run') throw new Error(`replay worker answered ${answer.kind} to a run`);
    return { summary: answer.summary, read: answer.read, truncated: answer.truncated, workers: 1 };
  } finally {
    await worker.close();
  }
}
