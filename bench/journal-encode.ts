// The decision journal's per-session cost on the front door's thread, old
// path against new, in one process, alternated: what JournalWriter.record
// does for the throughput bench's session (encode, frame, buffer) plus its
// share of the batch's write preparation (256 sessions a batch).
//   old: frameRecord(encodeSession(s)) strings, joined and converted to UTF-8 at write
//   new: writeSession(s) straight into a FrameBuffer's bytes, taken at write
//
// Also counts young-generation collections per 1,000 sessions in each path
// (run with --max-semi-space-size=1 to make them frequent enough to count):
// the garbage each path leaves, which the timing here (an otherwise empty
// heap) undercharges compared with the relay's main thread.
//
//   node [--max-semi-space-size=1] --import tsx bench/journal-encode.ts [--rounds=10] [--sessions=50000]
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { encodeSession, writeSession } from '../src/journal/journal-record.ts';
import { FrameBuffer, frameRecord } from '../src/journal/journal-segment.ts';
import { benchSession } from '../test/helpers/journal-sessions.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, sessions: { type: 'string' } } });
const rounds = Number(values.rounds ?? 10);
const perRound = Number(values.sessions ?? 50_000);
const BATCH = 256;
const sessions = Array.from({ length: 1024 }, (_, n) => benchSession(n));
let sink = 0;

function oldPath(count: number): void {
  let lines: string[] = [];
  for (let n = 0; n < count; n++) {
    const session = sessions[n & 1023]!;
    const record = encodeSession(session, session.connectedAt + 345);
    if (!record) continue;
    lines.push(frameRecord(record));
    if (lines.length === BATCH) {
      sink += Buffer.from(lines.join(''), 'utf8').length; // what appendFile(file, string) converts
      lines = [];
    }
  }
}

const frames = new FrameBuffer();
function newPath(count: number): void {
  let batched = 0;
  for (let n = 0; n < count; n++) {
    const session = sessions[n & 1023]!;
    frames.begin();
    if (!writeSession(frames, session, session.connectedAt + 345)) continue;
    frames.end();
    frames.commit();
    if (++batched === BATCH) {
      const chunks = frames.take();
      sink += (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).length;
      batched = 0;
    }
  }
}

let minorGcs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs++;
}).observe({ entryTypes: ['gc'] });

/** CPU time (not wall time: the machine is shared) per session in ns, and minor GCs per 1,000 sessions. */
async function time(run: (count: number) => void): Promise<{ ns: number; gcs: number }> {
  await sleep(20); // the previous phase's GC entries are delivered
  const gcsBefore = minorGcs;
  const started = process.cpuUsage();
  run(perRound);
  const used = process.cpuUsage(started);
  await sleep(20);
  return { ns: ((used.user + used.system) * 1000) / perRound, gcs: ((minorGcs - gcsBefore) * 1000) / perRound };
}

oldPath(20_000);
newPath(20_000);
const figures = { old: [] as Array<{ ns: number; gcs: number }>, new: [] as Array<{ ns: number; gcs: number }> };
for (let round = 0; round < rounds; round++) {
  figures.old.push(await time(oldPath));
  figures.new.push(await time(newPath));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const name of ['old', 'new'] as const) {
  const ns = figures[name].map((f) => f.ns);
  const gcs = figures[name].map((f) => f.gcs);
  console.log(`${name} ns/session: median ${median(ns).toFixed(0)} (${ns.map((x) => x.toFixed(0)).join(' ')}); minor GCs per 1,000 sessions: median ${median(gcs).toFixed(2)}`);
}
const ratio = median(figures.new.map((f) => f.ns)) / median(figures.old.map((f) => f.ns));
console.log(`new/old CPU: ${ratio.toFixed(3)} (sink ${sink})`);
