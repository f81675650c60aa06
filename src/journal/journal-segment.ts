// How the decision journal sits on disk: files ("segments") named
// journal-<start ms>.jsonl under data_dir/journal/, each a run of lines
// "<crc32 of the JSON, 8 hex digits> <JSON record>\n". A line whose CRC or
// JSON does not check out (a torn write on a full disk, a flipped bit, an
// edit) is skipped and counted by the reader, never fatal; so is a segment
// that cannot be read at all. Segments are independent: replay-pool.ts hands
// them to worker threads, one at a time each.
import { crc32 } from 'node:zlib';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isJournalRecord, type JournalRecord, type JsonOut } from './journal-record.ts';

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

const SPACE = 0x20;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export function frameRecord(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** Bytes of a framed line besides its JSON: 8 hex digits, a space, the newline. */
const FRAME_OVERHEAD = 10;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const FRAME_CHUNK = 64 * 1024;

/**
 * Framed lines (frameRecord's bytes) written straight into reusable
 * buffers: a record's JSON goes in as bytes where it will be written from
 * (JsonOut: no record objects, no intermediate strings, no UTF-8
 * conversion of the whole line), and the CRC is taken over those bytes.
 *   begin(); writeSession(frames, ...); end(); commit() (or abort(), also on a throw)
 * take() hands over what was appended since the last take; later lines go
 * to the rest of the same buffer, never over bytes already handed out.
 */
export class FrameBuffer implements JsonOut {
  #chunk: Buffer = Buffer.allocUnsafe(FRAME_CHUNK);
  /** chunk[start, line) is framed and not yet taken; chunk[line, pos) the line being written. */
  #start = 0;
  #line = 0;
  #pos = 0;
  /** Earlier chunks' untaken lines, oldest first. */
  #full: Buffer[] = [];

  begin(): void {
    this.#ensure(FRAME_OVERHEAD);
    this.#pos = this.#line + 9; // the CRC's 8 hex digits and a space go first, once known
  }

  /** Frames the line written since begin(); returns its size in bytes, newline included. Then commit() or abort(). */
  end(): number {
    this.#ensure(1);
    const chunk = this.#chunk;
    const at = this.#line;
    let crc = crc32(chunk.subarray(at + 9, this.#pos));
    for (let i = at + 7; i >= at; i--) {
      chunk[i] = HEX[crc & 0xf] as number;
      crc >>>= 4;
    }
    chunk[at + 8] = SPACE;
    chunk[this.#pos++] = NEWLINE;
    return this.#pos - at;
  }

  /** Keeps the line: the next take() hands it over. */
  commit(): void {
    this.#line = this.#pos;
  }

  /** Forgets the line since begin(). */
  abort(): void {
    this.#pos = this.#line;
  }

  ascii(text: string): void {
    this.#ensure(text.length);
    const chunk = this.#chunk;
    let pos = this.#pos;
    for (let i = 0; i < text.length; i++) chunk[pos++] = text.charCodeAt(i);
    this.#pos = pos;
  }

  string(value: string): void {
    this.#ensure(value.length + 2);
    const chunk = this.#chunk;
    const at = this.#pos;
    let pos = at;
    chunk[pos++] = QUOTE;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      // Hot path: ASCII needing no escape is copied; anything else is JSON.stringify's.
      if (c < 0x20 || c === QUOTE || c === BACKSLASH || c >= 0x80) {
        this.#pos = at;
        this.value(value);
        return;
      }
      chunk[pos++] = c;
    }
    chunk[pos++] = QUOTE;
    this.#pos = pos;
  }

  value(value: unknown): void {
    const json = JSON.stringify(value) ?? 'null';
    this.#ensure(json.length * 3); // at most 3 UTF-8 bytes per UTF-16 unit (JSON.stringify leaves no lone surrogate)
    const written = this.#chunk.write(json, this.#pos, 'utf8');
    this.#pos += written;
  }

  /** The lines ended since the last take, in order. */
  take(): Buffer[] {
    const out = this.#full;
    if (this.#line > this.#start) out.push(this.#chunk.subarray(this.#start, this.#line));
    this.#full = [];
    this.#start = this.#line;
    return out;
  }

  /** Room for `bytes` more: past the chunk's end, the line so far moves to a new chunk. */
  #ensure(bytes: number): void {
    if (this.#pos + bytes <= this.#chunk.length) return;
    const old = this.#chunk;
    if (this.#line > this.#start) this.#full.push(old.subarray(this.#start, this.#line));
    const partial = this.#pos - this.#line;
    this.#chunk = Buffer.allocUnsafe(Math.max(FRAME_CHUNK, 2 * (partial + bytes)));
    old.copy(this.#chunk, 0, this.#line, this.#pos);
    this.#start = this.#line = 0;
    this.#pos = partial;
  }
}

/** One framed line back to a record; undefined when it does not check out. */
export function parseLine(line: string): JournalRecord | undefined {
  const bytes = Buffer.from(line, 'utf8');
  return parseBytes(bytes, 0, bytes.length);
}

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

export type RecordHandler = (record: JournalRecord) => Promise<boolean | void> | boolean | void;

/** Forward reads go in chunks of this size: memory is one chunk plus one line, whatever segment_bytes is. */
const CHUNK_BYTES = 1 << 20;

/** Whether segment i (of `segments`, oldest first) can hold a record in range; `past` when it and all later ones start after `to`. */
export function segmentInRange(segments: readonly SegmentFile[], i: number, range: ReadRange): 'yes' | 'before' | 'past' {
  const segment = segments[i] as SegmentFile;
  const next = segments[i + 1];
  // A segment ends where the next one starts: skip those wholly before `from`.
  if (range.from !== undefined && next !== undefined && next.startMs < range.from) return 'before';
  if (range.to !== undefined && segment.startMs > range.to) return 'past';
  return 'yes';
}

/** One line (buf[start, end), no newline) through the range and `each`; false when `each` stopped. */
async function deliver(buf: Buffer, start: number, end: number, range: ReadRange, stats: ReadStats, corrupt: { seen: boolean }, each: RecordHandler): Promise<boolean> {
  const record = parseBytes(buf, start, end);
  if (!record) {
    stats.corruptRecords++;
    if (!corrupt.seen) stats.corruptSegments++;
    corrupt.seen = true;
    return true;
  }
  if ((range.from !== undefined && record.t < range.from) || (range.to !== undefined && record.t > range.to)) return true;
  stats.records++;
  const result = each(record);
  return (result instanceof Promise ? await result : result) !== false;
}

/**
 * Calls `each` for the records of one segment file in range, oldest first
 * (streamed in chunks) or newest first (the file read whole: segments are
 * bounded by journal.segment_bytes). A segment that cannot be read counts as
 * unreadable; a line that does not check out as corrupt. Returns false when
 * `each` returned false (stop).
 */
export async function readSegment(file: string, range: ReadRange & { readonly newestFirst?: boolean }, stats: ReadStats, each: RecordHandler): Promise<boolean> {
  const corrupt = { seen: false };
  if (range.newestFirst) {
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch {
      stats.unreadableSegments++;
      return true;
    }
    stats.segments++;
    const ends: number[] = [];
    for (let start = 0; start < buf.length; ) {
      let end = buf.indexOf(NEWLINE, start);
      if (end === -1) end = buf.length;
      if (end > start) ends.push(start, end);
      start = end + 1;
    }
    for (let k = ends.length - 2; k >= 0; k -= 2) {
      if (!(await deliver(buf, ends[k] as number, ends[k + 1] as number, range, stats, corrupt, each))) return false;
    }
    return true;
  }
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    if (!(await handle.stat()).isFile()) throw new Error('not a file');
  } catch {
    await handle?.close().catch(() => undefined);
    stats.unreadableSegments++;
    return true;
  }
  stats.segments++;
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry: Buffer | undefined;
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, null));
      } catch {
        stats.unreadableSegments++;
        return true;
      }
      if (bytesRead === 0) break;
      const data = carry ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let start = 0;
      for (let end = data.indexOf(NEWLINE, start); end !== -1; end = data.indexOf(NEWLINE, start)) {
        if (end > start && !(await deliver(data, start, end, range, stats, corrupt, each))) return false;
        start = end + 1;
      }
      // The chunk is reused: a line it ends in the middle of is copied out.
      carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    }
    // A last line without its newline (a torn write) is judged like any other.
    if (carry && !(await deliver(carry, 0, carry.length, range, stats, corrupt, each))) return false;
    return true;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Calls `each` for every record in range, oldest segment first (newest first
 * with `newestFirst`). Memory stays at one segment's chunk (one segment when
 * newest first). `each` returning false stops.
 */
export async function readJournal(
  dir: string,
  range: ReadRange & { readonly newestFirst?: boolean },
  stats: ReadStats,
  each: RecordHandler,
): Promise<void> {
  const segments = await listSegments(dir);
  const order = segments.map((_, i) => i);
  if (range.newestFirst) order.reverse();
  for (const i of order) {
    const where = segmentInRange(segments, i, range);
    if (where === 'before') continue;
    if (where === 'past') {
      if (range.newestFirst) continue;
      break;
    }
    if (!(await readSegment((segments[i] as SegmentFile).file, range, stats, each))) return;
  }
}
