// Appends closed sessions to the decision journal, off the SMTP path:
// record() encodes the session (a few microseconds) straight into the
// in-memory batch's bytes (FrameBuffer) and returns; a timer (journal.flush_interval) or a full batch writes the
// batch with one append. No fsync: the journal is diagnostics, and a crash
// loses at most the last batch. A new segment starts past
// journal.segment_bytes or after an hour; after each rotation the oldest
// segments go while the journal is over journal.max_bytes or older than
// journal.max_age.
//
// A write that fails (disk full, the directory gone) never reaches mail:
// the batch is dropped and counted, ONE error line is logged, the next
// batch starts a fresh segment (so a torn line stays at the end of the old
// one) and, once a write succeeds again, one line says the journal resumed
// and how many records it lost. While writes fail the batch is bounded
// (records past it are dropped and counted too).
import { appendFile, mkdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import type { SessionJournal, SessionRecord } from '../session/session-record.ts';
import { writeSession } from './journal-record.ts';
import { FrameBuffer, listSegments, segmentName } from './journal-segment.ts';

export interface JournalWriterOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxAge: number;
  readonly segmentBytes: number;
  readonly flushInterval: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Longest a segment stays current. Default one hour. */
  readonly segmentAge?: number;
  /** The batch is written at once past this many bytes; default 256 KiB. */
  readonly batchBytes?: number;
  /** Records beyond this many buffered bytes are dropped (counted); default 8 MiB. */
  readonly maxBuffered?: number;
}

export interface JournalStats {
  readonly written: number;
  readonly dropped: number;
  readonly bytes: number;
  readonly degraded: boolean;
  readonly lastError: string | null;
  readonly segment: string | null;
}

interface CurrentSegment {
  readonly file: string;
  readonly name: string;
  readonly startMs: number;
  size: number;
}

export class JournalWriter implements SessionJournal {
  readonly #o: Required<Omit<JournalWriterOptions, 'now'>> & { now: () => number };
  readonly #frames = new FrameBuffer();
  /** Records in #frames. */
  #count = 0;
  /** Their size in bytes (segment_bytes, max_buffered and stats().bytes count bytes on disk). */
  #buffered = 0;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #segment: CurrentSegment | undefined;
  #written = 0;
  #dropped = 0;
  #droppedSinceError = 0;
  #bytes = 0;
  #degraded = false;
  #lastError: string | null = null;
  #closed = false;

  constructor(options: JournalWriterOptions) {
    this.#o = {
      segmentAge: 3_600_000,
      batchBytes: 256 * 1024,
      maxBuffered: 8 * 1024 * 1024,
      ...options,
      now: options.now ?? Date.now,
    };
    this.#timer = setInterval(() => void this.flush(), Math.max(10, this.#o.flushInterval));
    this.#timer.unref();
  }

  record(session: SessionRecord, closedAt?: number): void {
    if (this.#closed) return;
    const frames = this.#frames;
    let size: number;
    try {
      frames.begin();
      if (!writeSession(frames, session, closedAt ?? this.#o.now())) {
        frames.abort();
        return;
      }
      size = frames.end();
    } catch (error) {
      frames.abort();
      this.#drop(1, error);
      return;
    }
    if (this.#buffered + size > this.#o.maxBuffered) {
      frames.abort();
      this.#dropped++;
      this.#droppedSinceError++;
      return;
    }
    frames.commit();
    this.#count++;
    this.#buffered += size;
    if (this.#buffered >= this.#o.batchBytes) void this.flush();
  }

  stats(): JournalStats {
    return {
      written: this.#written,
      dropped: this.#dropped,
      bytes: this.#bytes,
      degraded: this.#degraded,
      lastError: this.#lastError,
      segment: this.#segment?.name ?? null,
    };
  }

  /** Writes what is buffered (one write at a time; resolves when the buffer seen now is on disk or dropped). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#count === 0) return;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
  }

  async #write(): Promise<void> {
    const chunks = this.#frames.take();
    const count = this.#count;
    const bytes = this.#buffered;
    this.#count = 0;
    this.#buffered = 0;
    try {
      const rotated = await this.#ensureSegment(bytes);
      const segment = this.#segment as CurrentSegment;
      await appendFile(segment.file, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
      segment.size += bytes;
      this.#written += count;
      this.#bytes += bytes;
      if (this.#degraded) {
        this.#degraded = false;
        this.#o.logger.warn(
          { event: 'journal.resumed', dropped: this.#droppedSinceError, segment: segment.name },
          `decision journal writing again; ${this.#droppedSinceError} record(s) were lost meanwhile`,
        );
        this.#droppedSinceError = 0;
      }
      if (rotated) await this.#prune();
    } catch (error) {
      this.#drop(count, error);
      // The failed append may have left a torn line: the next batch starts a new segment.
      this.#segment = undefined;
    }
  }

  #drop(count: number, error: unknown): void {
    this.#dropped += count;
    this.#droppedSinceError += count;
    this.#lastError = (error as Error).message;
    if (this.#degraded) return;
    this.#degraded = true;
    this.#o.logger.error(
      { event: 'journal.write_failed', dir: this.#o.dir, err: this.#lastError },
      `decision journal cannot write (${this.#lastError}); mail is not affected, records are dropped and counted until it can`,
    );
  }

  async #ensureSegment(bytes: number): Promise<boolean> {
    const now = this.#o.now();
    const current = this.#segment;
    if (current && current.size + bytes <= this.#o.segmentBytes && now - current.startMs < this.#o.segmentAge) return false;
    await mkdir(this.#o.dir, { recursive: true, mode: 0o750 });
    let name = segmentName(now);
    for (let seq = 1; seq < 1000; seq++) {
      try {
        await stat(path.join(this.#o.dir, name));
        name = segmentName(now, seq);
      } catch {
        break;
      }
    }
    this.#segment = { file: path.join(this.#o.dir, name), name, startMs: now, size: 0 };
    return true;
  }

  /** Deletes the oldest segments past max_bytes or max_age (never the current one). */
  async #prune(): Promise<void> {
    const segments = await listSegments(this.#o.dir);
    const sizes = await Promise.all(
      segments.map(async (segment) => {
        try {
          const info = await stat(segment.file);
          return { ...segment, size: info.size, mtimeMs: info.mtimeMs };
        } catch {
          return { ...segment, size: 0, mtimeMs: 0 };
        }
      }),
    );
    let total = sizes.reduce((sum, s) => sum + s.size, 0);
    const oldest = this.#o.now() - this.#o.maxAge;
    for (let i = 0; i < sizes.length; i++) {
      const segment = sizes[i] as (typeof sizes)[number];
      if (segment.name === this.#segment?.name) break;
      // A segment's newest record is no later than the next segment's start.
      const endMs = sizes[i + 1]?.startMs ?? segment.mtimeMs;
      if (total <= this.#o.maxBytes && endMs >= oldest) break;
      try {
        await unlink(segment.file);
        total -= segment.size;
        this.#o.logger.debug({ event: 'journal.segment_removed', segment: segment.name }, 'journal segment removed');
      } catch (error) {
        this.#o.logger.warn({ event: 'journal.prune_failed', segment: segment.name, err: (error as Error).message }, 'could not remove a journal segment');
        break;
      }
    }
  }
}

/** The journal directory of a data directory. */
export function journalDirOf(dataDir: string): string {
  return path.join(dataDir, 'journal');
}
