// The spool's fast path: small accepted messages are appended to a shared
// segment file with group commit (append-file.ts) instead of one file, one
// fdatasync, one rename and a directory fsync each. Layout under segments/:
//   <seq>.seg    records (segment-record.ts), appended only by the running server
//   <seq>.done   done marks (done-log.ts): ids of records that need no delivery any more
// A record is live until its id is in the .done file. A segment that is not
// the one being written and has no live record is removed with its .done.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import { AppendFile } from './append-file.ts';
import { DirSync } from './dir-sync.ts';
import { DoneLog, parseDoneMarks } from './done-log.ts';
import { ifMissing, ignoreMissing } from './missing-file.ts';
import { decodeSpoolHeader } from './spool-file.ts';
import { encodeRecordPrefix, readRecords, type RecordSpan } from './segment-record.ts';
import type { HoldMark } from './state-journal.ts';
import type { Quarantine } from './quarantine.ts';

/** A segment is closed for appends once it reaches this size. */
export const DEFAULT_SEGMENT_BYTES = 32 * 1024 * 1024;

export interface SegmentLocation {
  readonly seq: number;
  /** Payload (spool-file encoding) offset and length in the segment. */
  readonly offset: number;
  readonly length: number;
}

interface Segment {
  readonly seq: number;
  readonly file: string;
  /** Read and append handle; undefined for a segment found at start-up until first needed. */
  data: AppendFile | undefined;
  doneLog: DoneLog | undefined;
  live: number;
  /** Appended records not yet durable (the segment is not removed under them). */
  writing: number;
  removing: boolean;
}

export interface RecoveredRecord {
  readonly id: string;
  readonly location: SegmentLocation;
  /** Held at accept time (its stored envelope says so). */
  readonly held?: HoldMark;
}

export interface SegmentStoreOptions {
  readonly dir: string;
  readonly logger: Logger;
  /** false: read-only inspection (the CLI while a server runs): nothing is written or removed. */
  readonly writable: boolean;
  /** Ids that have a file of their own in queue/: their segment copies are not live. */
  readonly movedOut: ReadonlySet<string>;
  readonly maxSegmentBytes?: number;
  /** Where damaged bytes are copied at recovery (writable only). */
  readonly quarantine?: Quarantine;
}

export class SegmentStore {
  readonly dir: string;
  readonly #logger: Logger;
  readonly #writable: boolean;
  readonly #maxBytes: number;
  readonly #quarantine: Quarantine | undefined;
  readonly #segments = new Map<number, Segment>();
  readonly #dirSync: DirSync;
  /** Finished segments being removed (close() waits for them). */
  readonly #removals = new Set<Promise<void>>();
  #current: { segment: Segment; ready: Promise<void> } | undefined;
  #nextSeq: number;

  private constructor(options: SegmentStoreOptions, nextSeq: number) {
    this.dir = options.dir;
    this.#logger = options.logger;
    this.#writable = options.writable;
    this.#quarantine = options.writable ? options.quarantine : undefined;
    this.#maxBytes = options.maxSegmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#dirSync = new DirSync(options.dir);
    this.#nextSeq = nextSeq;
  }

  /** Opens segments/ and recovers every live record, oldest segment first. */
  static async open(options: SegmentStoreOptions): Promise<{ store: SegmentStore; recovered: RecoveredRecord[] }> {
    if (options.writable) await mkdir(options.dir, { recursive: true });
    const names = await readdir(options.dir).catch(ifMissing([] as string[]));
    const seqs = [...new Set(names.map((n) => /^(\d+)\.(seg|done)$/.exec(n)?.[1]).filter((s): s is string => s !== undefined).map(Number))].sort((a, b) => a - b);
    const store = new SegmentStore(options, (seqs[seqs.length - 1] ?? 0) + 1);
    const recovered: RecoveredRecord[] = [];
    for (const seq of seqs) recovered.push(...(await store.#recover(seq, options.movedOut)));
    return { store, recovered };
  }

  async #recover(seq: number, movedOut: ReadonlySet<string>): Promise<RecoveredRecord[]> {
    const file = this.#segmentFile(seq);
    // Only a missing file is empty: a segment that cannot be read (EIO, EACCES) stops the start
    // with that error instead of being taken for finished and removed.
    // The done marks first, then the records: a removal unlinks the .seg before the .done, so a
    // reader beside a running server (queue list) never pairs a segment's records with no marks.
    const doneText = await readFile(this.#doneFile(seq), 'latin1').catch(ifMissing(''));
    const bytes = await readFile(file).catch(ifMissing(Buffer.alloc(0)));
    const { records, skippedBytes, skipped } = readRecords(bytes);
    if (skippedBytes > 0) {
      // Usually the tail of a crash: appends that were never acknowledged (no 250 was sent for them).
      this.#logger.warn({ segment: file, skippedBytes }, 'skipped bytes of a spool segment that are not whole records');
    }
    const done = parseDoneMarks(doneText);
    const live = liveRecords(seq, bytes, records, done, movedOut);
    await this.#quarantineDamage(file, bytes, skipped, undecodableRecords(bytes, records));
    const segment: Segment = { seq, file, data: undefined, doneLog: undefined, live: live.length, writing: 0, removing: false };
    this.#segments.set(seq, segment);
    if (live.length === 0 && this.#writable) await this.#remove(segment);
    return live;
  }

  /**
   * Keeps a copy of what recovery cannot use: bytes that are not whole records
   * (a torn tail of never-acknowledged appends, or damage) and records whose
   * CRC is right but whose header does not parse. A zero-filled tail holds
   * nothing and is only logged. Named <segment>@<offset>, so the same damage
   * found again at the next start is not copied twice.
   */
  async #quarantineDamage(file: string, bytes: Buffer, skipped: readonly RecordSpan[], undecodable: readonly RecordSpan[]): Promise<void> {
    const quarantine = this.#quarantine;
    if (!quarantine) return;
    const base = path.basename(file);
    const found = [
      ...skipped.map((span) => ({
        span,
        reason: span.offset + span.length === bytes.length
          ? 'bytes at the end of a segment that are not a whole record: appends torn by a crash (never acknowledged), or damage'
          : 'bytes inside a segment that are not a whole record (length or CRC wrong): damaged on disk; a message here may have been acknowledged',
      })),
      ...undecodable.map((span) => ({ span, reason: 'a segment record whose CRC is right but whose envelope header does not parse' })),
    ];
    for (const { span, reason } of found) {
      const slice = bytes.subarray(span.offset, span.offset + span.length);
      if (slice.every((b) => b === 0)) continue;
      const name = `${base}@${span.offset}`;
      if (await quarantine.has(name)) continue;
      await quarantine.copyIn(name, slice, reason, file);
    }
  }

  /** Appends one message; resolves once it is durable (data, and the segment's directory entry). */
  async append(payload: readonly Buffer[]): Promise<SegmentLocation> {
    if (!this.#writable) throw new Error('the spool segments are open read-only');
    const prefix = encodeRecordPrefix(payload);
    let length = 0;
    for (const part of payload) length += part.length;
    const current = this.#writableSegment(prefix.length + length);
    const { segment } = current;
    const data = segment.data as AppendFile;
    const { offset, durable } = data.append([prefix, ...payload]);
    segment.live++;
    segment.writing++;
    try {
      await Promise.all([durable, current.ready]);
    } catch (error) {
      // Unknown what reached the disk: mark it done so a recovery does not deliver what was refused.
      segment.live--;
      void this.#markDone(segment, [payloadId(payload)]).catch(() => undefined);
      throw error;
    } finally {
      segment.writing--;
    }
    return { seq: segment.seq, offset: offset + prefix.length, length };
  }

  #writableSegment(recordBytes: number): { segment: Segment; ready: Promise<void> } {
    const current = this.#current;
    const data = current?.segment.data;
    if (current && data && !data.broken && (data.size === 0 || data.size + recordBytes <= this.#maxBytes)) return current;
    const seq = this.#nextSeq++;
    const file = this.#segmentFile(seq);
    const segment: Segment = { seq, file, data: AppendFile.open(file, { create: true }), doneLog: undefined, live: 0, writing: 0, removing: false };
    // The new name must be durable before the first record in it is acknowledged.
    const next = { segment, ready: this.#dirSync.sync() };
    this.#current = next;
    this.#segments.set(seq, segment);
    if (current) this.#maybeRemove(current.segment);
    return next;
  }

  /** The payload (spool-file encoding) of a live record. */
  async read(location: SegmentLocation): Promise<Buffer> {
    const segment = this.#segments.get(location.seq);
    if (!segment || segment.removing) throw new Error(`segment ${location.seq} is gone`);
    segment.data ??= AppendFile.open(segment.file, { create: false });
    return segment.data.read(location.offset, location.length);
  }

  fileOf(location: SegmentLocation): string {
    return this.#segmentFile(location.seq);
  }

  /** False: opened for inspection only (nothing can be marked done). */
  get writable(): boolean {
    return this.#writable;
  }

  /**
   * The record needs no delivery any more; resolves once that is on disk.
   * Each record is marked once (the caller gives its location up first): a
   * second mark would count the segment empty while a record in it is live.
   */
  async done(id: string, location: SegmentLocation): Promise<void> {
    if (!this.#writable) throw new Error(`cannot mark ${id} done: the spool segments are open read-only`);
    const segment = this.#segments.get(location.seq);
    // Removed only once nothing in it was live: this record was marked done before.
    if (!segment) throw new Error(`cannot mark ${id} done: segment ${location.seq} is gone (marked done twice?)`);
    segment.live--;
    await this.#markDone(segment, [id]);
    this.#maybeRemove(segment);
  }

  async #markDone(segment: Segment, ids: readonly string[]): Promise<void> {
    segment.doneLog ??= DoneLog.open(this.#doneFile(segment.seq), this.#dirSync);
    await segment.doneLog.mark(ids);
  }

  #maybeRemove(segment: Segment): void {
    if (segment.live > 0 || segment.writing > 0 || segment.removing || this.#current?.segment === segment) return;
    const removal = this.#remove(segment)
      .catch((error: unknown) => this.#logger.error({ err: error, segment: segment.file }, 'cannot remove a finished spool segment'))
      .finally(() => this.#removals.delete(removal));
    this.#removals.add(removal);
  }

  async #remove(segment: Segment): Promise<void> {
    segment.removing = true;
    this.#segments.delete(segment.seq);
    await segment.data?.close();
    await segment.doneLog?.close();
    // No directory fsync: if the unlink is lost, the next start finds nothing live and removes it again.
    await unlink(segment.file).catch(ignoreMissing);
    await unlink(this.#doneFile(segment.seq)).catch(ignoreMissing);
  }

  /**
   * Waits for queued writes and removals and closes every file. A removal
   * left running would unlink the .seg and then the .done under whoever
   * opens the spool next in this process (the CLI, a test).
   */
  async close(): Promise<void> {
    while (this.#removals.size > 0) await Promise.all(this.#removals);
    for (const segment of this.#segments.values()) {
      await segment.data?.close();
      await segment.doneLog?.close();
    }
    this.#current = undefined;
  }

  #segmentFile(seq: number): string {
    return path.join(this.dir, `${String(seq).padStart(10, '0')}.seg`);
  }

  #doneFile(seq: number): string {
    return path.join(this.dir, `${String(seq).padStart(10, '0')}.done`);
  }
}

function payloadId(payload: readonly Buffer[]): string {
  const first = payload[0];
  const parsed = first ? decodeSpoolHeader(first) : undefined;
  return parsed?.ok ? parsed.envelope.id : '';
}

/** PURE. Records whose CRC checked out but whose spool header does not parse: nothing can deliver them. */
export function undecodableRecords(bytes: Buffer, records: readonly RecordSpan[]): RecordSpan[] {
  return records.filter((record) => !decodeSpoolHeader(bytes.subarray(record.offset, record.offset + record.length)).ok);
}

/** PURE. The records of segment `seq` still to be delivered: not marked done, not moved to a file of their own. */
export function liveRecords(seq: number, bytes: Buffer, records: readonly RecordSpan[], done: ReadonlySet<string>, movedOut: ReadonlySet<string>): RecoveredRecord[] {
  const live: RecoveredRecord[] = [];
  for (const record of records) {
    const parsed = decodeSpoolHeader(bytes.subarray(record.offset, record.offset + record.length));
    if (!parsed.ok) continue;
    const id = parsed.envelope.id;
    if (done.has(id) || movedOut.has(id)) continue;
    const held = parsed.envelope.held;
    live.push({ id, location: { seq, offset: record.offset, length: record.length }, ...(held ? { held } : {}) });
  }
  return live;
}
