// The decision journal's per-session cost on the front door's thread, old
// path against new, in one process, alternated: what JournalWriter.record
// does for the throughput bench's session (encode, frame, buffer) plus its
// share of the batch's write preparation (256 sessions a batch).
//   old: frameRecord(encodeSession(s)) strings, joined and converted to UTF-8 at write
//   new: encodeSessionJson(s) into a FrameBuffer, taken at write
//
//   node --import tsx bench/journal-encode.ts [--rounds=10] [--sessions=200000]
import { parseArgs } from 'node:util';
import { encodeSession, encodeSessionJson } from '../src/journal/journal-record.ts';
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
    const json = encodeSessionJson(session, session.connectedAt + 345);
    if (json === undefined) continue;
    frames.append(json);
    if (++batched === BATCH) {
      const chunks = frames.take();
      sink += (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).length;
      batched = 0;
    }
  }
}

/** CPU time (not wall time: the machine is shared) per session, in ns. */
function time(run: (count: number) => void): number {
  const started = process.cpuUsage();
  run(perRound);
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1000) / perRound;
}

oldPath(20_000);
newPath(20_000);
const figures = { old: [] as number[], new: [] as number[] };
for (let round = 0; round < rounds; round++) {
  figures.old.push(time(oldPath));
  figures.new.push(time(newPath));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const show = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
console.log(`old ns/session: median ${median(figures.old).toFixed(0)} (${show(figures.old)})`);
console.log(`new ns/session: median ${median(figures.new).toFixed(0)} (${show(figures.new)})`);
console.log(`new/old: ${(median(figures.new) / median(figures.old)).toFixed(3)} (sink ${sink})`);
