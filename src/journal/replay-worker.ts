// A worker thread of a journal replay (replay-pool.ts): loads the candidate
// policy from the sources the main thread loaded it from (the same texts, so
// the same policy, whatever was edited on disk since), then replays what it is
// asked, one message at a time:
//   segment  one journal segment, oldest record first; answers its summary
//   run      the whole journal as replay-run.ts does in one thread (the guard's
//            newest-first replay with a session cap)
// Nothing here touches the relay's state: a worker only reads the journal.
import { parentPort, workerData } from 'node:worker_threads';
import { createSnapshot, loadPolicySources, type PolicySources } from '../config/load-policy.ts';
import { emptyReadStats, readSegment, type ReadRange } from './journal-segment.ts';
import { Replayer, emptySummary, groupIndex, summarize } from './replay.ts';
import { replayInThread } from './replay-run.ts';
import type { FromReplayWorker, ToReplayWorker } from './replay-pool.ts';

export interface ReplayWorkerData {
  readonly sources: PolicySources;
  readonly generation: number;
  readonly loadedAt: number;
}

const port = parentPort;
if (!port) throw new Error('replay-worker.ts runs as a worker thread (journal/replay-pool.ts starts it)');
const data = workerData as ReplayWorkerData;
const post = (message: FromReplayWorker): void => port.postMessage(message);

const loaded = loadPolicySources(data.sources).then((load) => {
  if (!load.ok) throw new Error(`the candidate policy does not load again in the replay worker: ${load.problems.map((p) => `${p.file}:${p.line} ${p.message}`).join('; ')}`);
  const snapshot = createSnapshot(load, data.generation, new Date(data.loadedAt));
  return { snapshot, replayer: new Replayer(snapshot) };
});

async function segment(file: string, range: ReadRange): Promise<FromReplayWorker> {
  const { replayer } = await loaded;
  const summary = emptySummary();
  const index = groupIndex(summary);
  const read = emptyReadStats();
  await readSegment(file, range, read, async (record) => {
    summarize(summary, await replayer.replay(record), index);
  });
  return { kind: 'segment', summary, read };
}

port.on('message', (message: ToReplayWorker) => {
  const work =
    message.kind === 'segment'
      ? segment(message.file, message.range)
      : loaded.then(async ({ snapshot }) => {
          const run = await replayInThread({ journalDir: message.journalDir, candidate: snapshot, range: message.range, ...(message.maxSessions !== undefined ? { maxSessions: message.maxSessions } : {}) });
          return { kind: 'run' as const, summary: run.summary, read: run.read, truncated: run.truncated };
        });
  work.then(post, (error: unknown) => post({ kind: 'error', message: (error as Error).message ?? String(error) }));
});
