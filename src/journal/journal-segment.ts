// How the decision journal sits on disk: files ("segments") named
// journal-<start ms>.jsonl under data_dir/journal/, each a run of lines
// "<crc32 of the JSON, 8 hex digits> <JSON record>\n". A line whose CRC or
// JSON does not check out (a torn write on a full disk, a flipped bit, an
// edit) is skipped and counted by the reader, never fatal; so is a segment
// that cannot be read at all.
import { crc32 } from 'node:zlib';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isJournalRecord, type JournalRecord } from './journal-record.ts';

const SEGMENT = /^journal-(\d{13})(?:-(\d+))?\.jsonl$/;

export function segmentName(startMs: number, seq = 0): string {
  return `journal-${String(startMs).padStart(13, '0')}${seq > 0 ? `-${seq}` : ''}.jsonl`;
}

export interface SegmentFile {
  readonly name: string;
  readonly file: string;
  readonly startMs: number;
}

/** The journal's segments, oldest first (a missing directory is an empty journal). */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const segments: Array<SegmentFile & { seq: number }> = [];
  for (const name of names) {
    const match = SEGMENT.exec(name);
    if (match) segments.push({ name, file: path.join(dir, name), startMs: Number(match[1]), seq: Number(match[2] ?? 0) });
  }
  segments.sort((a, b) => a.startMs - b.startMs || a.seq - b.seq);
  return segments.map(({ name, file, startMs }) => ({ name, file, startMs }));
}

export function frameRecord(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** One framed line back to a record; undefined when it does not check out. */
export function parseLine(line: string): JournalRecord | undefined {
  const bytes = Buffer.from(line, 'utf8');
  return parseBytes(bytes, 0, bytes.length);
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The framed line in buf[start, end) (without its newline): the CRC is checked on the bytes, then parsed. */
function parseBytes(buf: Buffer, start: number, end: number): JournalRecord | undefined {
  if (end - start < 11 || buf[start + 8] !== SPACE) return undefined;
  let crc = 0;
  for (let i = start; i < start + 8; i++) {
    const digit = hexDigit(buf[i] as number);
    if (digit < 0) return undefined;
    crc = crc * 16 + digit;
  }
  if (crc32(buf.subarray(start + 9, end)) !== crc) return undefined;
  try {
    const value: unknown = JSON.parse(buf.toString('utf8', start + 9, end));
    return isJournalRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface ReadRange {
  /** Inclusive bounds on the session's connect time (ms since epoch). */
  readonly from?: number;
  readonly to?: number;
}

export interface ReadStats {
  segments: number;
  records: number;
  /** Lines that failed their CRC or did not parse as a record: skipped. */
  corruptRecords: number;
  /** Segments that could not be read at all: skipped. */
  unreadableSegments: number;
  /** Segments with at least one corrupt line (their good lines are still read). */
  corruptSegments: number;
}

export function emptyReadStats(): ReadStats {
  return { segments: 0, records: 0, corruptRecords: 0, unreadableSegments: 0, corruptSegments: 0 };
}

/**
 * Calls `each` for every record in range, oldest segment first. A segment is
 * read whole (segments are bounded by journal.segment_bytes) and dropped
 * before the next, so memory stays at one segment. `each` returning false stops.
 */
export async function readJournal(
  dir: string,
  range: ReadRange & { readonly newestFirst?: boolean },
  stats: ReadStats,
  each: (record: JournalRecord) => Promise<boolean | void> | boolean | void,
): Promise<void> {
  const segments = await listSegments(dir);
  const order = segments.map((_, i) => i);
  if (range.newestFirst) order.reverse();
  for (const i of order) {
    const segment = segments[i] as SegmentFile;
    const next = segments[i + 1];
    // A segment ends where the next one starts: skip those wholly before `from`.
    if (range.from !== undefined && next !== undefined && next.startMs < range.from) continue;
    if (range.to !== undefined && segment.startMs > range.to) {
      if (range.newestFirst) continue;
      break;
    }
    let buf: Buffer;
    try {
      buf = await readFile(segment.file);
    } catch {
      stats.unreadableSegments++;
      continue;
    }
    stats.segments++;
    let corrupt = false;
    const lines: Array<readonly [number, number]> = [];
    for (let start = 0; start < buf.length; ) {
      let end = buf.indexOf(NEWLINE, start);
      if (end === -1) end = buf.length;
      if (end > start) lines.push([start, end]);
      start = end + 1;
    }
    if (range.newestFirst) lines.reverse();
    for (const [start, end] of lines) {
      const record = parseBytes(buf, start, end);
      if (!record) {
        stats.corruptRecords++;
        if (!corrupt) stats.corruptSegments++;
        corrupt = true;
        continue;
      }
      if ((range.from !== undefined && record.t < range.from) || (range.to !== undefined && record.t > range.to)) continue;
      stats.records++;
      const result = each(record);
      if ((result instanceof Promise ? await result : result) === false) return;
    }
  }
}
