// The durable spool. Layout under `dir`:
//   segments/           small messages as they are accepted: records appended to a shared
//                       file with group commit, on disk before accept() resolves (segments.ts)
//   tmp/<id>.msg        being written; anything here at start is a torn write and is removed
//   queue/<id>.msg      a message with a file of its own (spool-file.ts): large messages, and
//                       any message moved out of its segment at its first record() (a deferral),
//                       so a segment never lives as long as the queue lifetime of one message
//   queue/<id>.state    the recipient journal (state-journal.ts); its mtime is set to the next
//                       attempt time so a start-up scan needs a stat, not a read, per message
//   control/            requests from `relayguard queue` to the running server (control.ts)
//   owner               pid of the process running the queue (spool-lock.ts)
// Accept path: a message up to SMALL_MESSAGE is collected in memory and
// appended to the current segment; every accept in flight shares one
// synchronous write (append-file.ts). A larger one streams to tmp with back-pressure, is fdatasynced,
// renamed into queue/, then a directory fsync is shared with every concurrent
// accept (dir-sync.ts).
// In memory: only an index id -> next attempt time, and a bounded cache of
// small just-accepted bodies so the first delivery attempt needs no read.
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/logger.ts';
import { DirSync } from './dir-sync.ts';
import { SpoolError } from './errors.ts';
import { createQueueIdGenerator, isQueueId, queueIdTime } from './queue-id.ts';
import { scan } from './spool-scan.ts';
import { SegmentStore, type SegmentLocation } from './segments.ts';
import { exactBuffer, writeAll } from './write-all.ts';
import { acquireOwner, releaseOwner } from './spool-lock.ts';
import { decodeSpoolHeader, encodeSpoolHeader, MAX_HEADER_BYTES, type StoredEnvelope } from './spool-file.ts';
import { encodeEvent, foldJournal, initialState, type JournalEvent, type MessageState } from './state-journal.ts';
import type { AcceptOptions, Envelope, SpoolIntake } from './types.ts';

/** Messages up to this size go to a segment and are cached for the first attempt. */
const SMALL_MESSAGE = 128 * 1024;
/** Large messages are written in batches of about this size. */
const WRITE_BATCH = 256 * 1024;
const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
/** First read of a message file: header and, for most messages, the whole body. */
const FIRST_READ = 64 * 1024;

export interface SpoolOptions {
  readonly dir: string;
  readonly instance?: string;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Take the owner file (default true); false for read-only inspection by the CLI. */
  readonly exclusive?: boolean;
  readonly cacheBytes?: number;
  /** Size at which a segment file is closed for appends (tests use small ones). */
  readonly maxSegmentBytes?: number;
}

export interface LoadedMessage {
  readonly id: string;
  readonly envelope: StoredEnvelope;
  readonly state: MessageState;
  /** Size of the message bytes (without the spool header). */
  readonly size: number;
  readonly file: string;
  readonly bodyOffset: number;
  /** The whole body when it was small enough to come with the first read or the cache. */
  readonly body?: Buffer;
}

export interface SpoolStats {
  readonly size: number;
  /** Accept time of the oldest message, undefined when empty. */
  readonly oldestReceivedAt: number | undefined;
}

export type AcceptedListener = (id: string, due: number) => void;

export interface Spool extends SpoolIntake {
  readonly dir: string;
  /** Ids with their next attempt time, oldest id first. */
  entries(): IterableIterator<[string, number]>;
  dueOf(id: string): number | undefined;
  /** Changes a message's due time in memory only (the journal keeps the durable one). */
  setDue(id: string, due: number): void;
  has(id: string): boolean;
  load(id: string): Promise<LoadedMessage | undefined>;
  /** Appends a journal event durably; `next` (if any) becomes the message's due time. */
  record(id: string, event: JournalEvent): Promise<void>;
  /** Removes a message and its journal (delivered, bounced or deleted). */
  remove(id: string): Promise<void>;
  onAccepted(listener: AcceptedListener): () => void;
  stats(): SpoolStats;
  /** Readiness: a small file can be written, fsynced and removed in tmp/. */
  probe(): Promise<boolean>;
  close(): Promise<void>;
}

/** Where serve and `relayguard queue` find the spool: <data_dir>/spool. */
export function spoolDirOf(config: { readonly dataDir: string }): string {
  return path.join(config.dataDir, 'spool');
}

export function queueDirOf(dir: string): string {
  return path.join(dir, 'queue');
}

export async function openSpool(options: SpoolOptions): Promise<Spool> {
  const now = options.now ?? Date.now;
  const dir = path.resolve(options.dir);
  const queueDir = queueDirOf(dir);
  const tmpDir = path.join(dir, 'tmp');
  await mkdir(queueDir, { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  await mkdir(path.join(dir, 'control'), { recursive: true });
  const exclusive = options.exclusive ?? true;
  if (exclusive) await acquireOwner(dir);
  const logger = options.logger.child({ component: 'spool' });
  const queueSync = new DirSync(queueDir);
  const nextId = createQueueIdGenerator({ now, ...(options.instance ? { instance: options.instance } : {}) });
  const scanned = await scan(queueDir, tmpDir, logger, !exclusive);
  const { store: segments, recovered } = await SegmentStore.open({
    dir: path.join(dir, 'segments'),
    logger,
    writable: exclusive,
    movedOut: new Set(scanned.index.keys()),
    ...(options.maxSegmentBytes ? { maxSegmentBytes: options.maxSegmentBytes } : {}),
  });
  // Messages that live in a segment (the others have a file in queue/).
  const located = new Map<string, SegmentLocation>();
  for (const { id, location } of recovered) located.set(id, location);
  const index = mergeIndex(scanned.index, recovered.map((r) => r.id));
  if (index.size > 0) logger.info({ messages: index.size, inSegments: located.size, deferred: scanned.journaled.size }, 'spool scanned');
  // Just-accepted small messages: envelope and body, so the first attempt needs no I/O.
  const cache = new Map<string, { envelope: StoredEnvelope; bodyOffset: number; body: Buffer }>();
  // Messages that have a journal file (from the scan, or since their first record()).
  const journaled = scanned.journaled;
  const cacheLimit = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
  let cacheBytes = 0;
  const listeners = new Set<AcceptedListener>();
  let closed = false;

  const msgFile = (id: string) => path.join(queueDir, `${id}.msg`);
  const stateFile = (id: string) => path.join(queueDir, `${id}.state`);

  const cachePut = (id: string, envelope: StoredEnvelope, bodyOffset: number, body: Buffer) => {
    if (cacheLimit <= 0 || body.length > SMALL_MESSAGE) return;
    cache.set(id, { envelope, bodyOffset, body });
    cacheBytes += body.length;
    for (const [oldId, old] of cache) {
      if (cacheBytes <= cacheLimit) break;
      cache.delete(oldId);
      cacheBytes -= old.body.length;
    }
  };
  const cacheDrop = (id: string) => {
    const entry = cache.get(id);
    if (entry) {
      cache.delete(id);
      cacheBytes -= entry.body.length;
    }
  };

  async function accept(envelope: Envelope, message: Readable | Buffer, acceptOptions?: AcceptOptions): Promise<string> {
    if (closed) throw new SpoolError('SPOOL_CLOSED', 'the spool is closed');
    const id = acceptOptions?.id ?? nextId();
    if (!isQueueId(id)) throw new SpoolError('SPOOL_WRITE_FAILED', `invalid queue id ${JSON.stringify(id)}`, { temporary: false });
    const header = encodeSpoolHeader(id, envelope);
    let refused: { error: unknown } | undefined;
    const check = () => {
      try {
        acceptOptions?.check?.();
      } catch (error) {
        refused = { error };
        throw error;
      }
    };
    let body: Buffer | undefined;
    let collected: { body: Buffer } | { handle: FileHandle; rest: Buffer[] } | undefined;
    try {
      if (Buffer.isBuffer(message)) {
        check();
        collected = { body: message };
      } else {
        collected = await collect(message, header, path.join(tmpDir, `${id}.msg`));
        check();
      }
      if ('body' in collected) {
        body = collected.body;
        if (body.length <= SMALL_MESSAGE) {
          if (closed) throw new SpoolError('SPOOL_CLOSED', 'the spool is closed');
          located.set(id, await segments.append([header, body]));
        } else {
          const handle = await open(path.join(tmpDir, `${id}.msg`), 'wx');
          await commitFile(id, handle, [header, body]);
        }
      } else {
        await commitFile(id, collected.handle, collected.rest);
      }
    } catch (error) {
      if (collected && 'handle' in collected) {
        // A large message refused by check(), or a failed commit (commitFile has cleaned up already).
        await collected.handle.close().catch(() => undefined);
        await unlink(path.join(tmpDir, `${id}.msg`)).catch(() => undefined);
      }
      if (refused) throw refused.error;
      if (error instanceof SpoolError) throw error;
      if (error instanceof MessageStreamError) {
        throw new SpoolError('SPOOL_MESSAGE_STREAM', `message stream failed: ${(error.cause as Error).message}`, { cause: error.cause });
      }
      logger.error({ err: error, queueId: id }, 'spool write failed');
      throw new SpoolError('SPOOL_WRITE_FAILED', `spool write failed: ${(error as Error).message}`, { cause: error });
    }
    index.set(id, envelope.receivedAt);
    if (body) cachePut(id, { ...envelope, id }, header.length, body);
    for (const listener of listeners) {
      try {
        listener(id, envelope.receivedAt);
      } catch (error) {
        logger.error({ err: error, queueId: id }, 'accept listener failed');
      }
    }
    return id;
  }

  /**
   * Reads the message stream: a small message whole into memory; from
   * SMALL_MESSAGE on, the rest streams into `tmp` in batches (the handle is
   * returned with what is left to write). A stream error rejects with
   * MessageStreamError; after a disk error the stream is still read to its
   * end, so the SMTP session can answer the final dot instead of hanging.
   */
  async function collect(message: Readable, header: Buffer, tmp: string): Promise<{ body: Buffer } | { handle: FileHandle; rest: Buffer[] }> {
    let chunks: Buffer[] = [];
    let size = 0;
    let handle: FileHandle | undefined;
    let diskError: { error: unknown } | undefined;
    try {
      try {
        for await (const raw of message) {
          if (diskError) continue;
          const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
          chunks.push(chunk);
          size += chunk.length;
          try {
            if (!handle && size > SMALL_MESSAGE) {
              handle = await open(tmp, 'wx');
              await writeAll(handle, [header, ...chunks]);
              chunks = [];
              size = 0;
            } else if (handle && size >= WRITE_BATCH) {
              await writeAll(handle, chunks);
              chunks = [];
              size = 0;
            }
          } catch (error) {
            diskError = { error };
            chunks = [];
          }
        }
      } catch (error) {
        throw new MessageStreamError(error);
      }
      if (diskError) throw diskError.error;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      if (handle) await unlink(tmp).catch(() => undefined);
      throw error;
    }
    return handle ? { handle, rest: chunks } : { body: exactBuffer(chunks, size) };
  }

  /** The per-file path: write the rest, fdatasync, rename into queue/, share a directory fsync. */
  async function commitFile(id: string, handle: FileHandle, rest: Buffer[]): Promise<void> {
    const tmp = path.join(tmpDir, `${id}.msg`);
    let renamed = false;
    try {
      await writeAll(handle, rest);
      await handle.datasync();
      await handle.close();
      await rename(tmp, msgFile(id));
      renamed = true;
      await queueSync.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(renamed ? msgFile(id) : tmp).catch(() => undefined);
      throw error;
    }
  }

  /** Gives a segment message a file of its own in queue/ (before its journal starts), then retires the segment copy. */
  async function moveOut(id: string, location: SegmentLocation): Promise<void> {
    const cached = cache.get(id);
    const payload = cached ? [encodeSpoolHeader(id, cached.envelope), cached.body] : [await segments.read(location)];
    const handle = await open(path.join(tmpDir, `${id}.msg`), 'wx');
    await commitFile(id, handle, payload);
    located.delete(id);
    await segments.done(id, location);
  }

  async function load(id: string): Promise<LoadedMessage | undefined> {
    const cached = cache.get(id);
    const location = located.get(id);
    if (location) {
      if (cached && index.has(id)) {
        // Accepted by this process and never attempted: everything is in memory.
        const { envelope, bodyOffset, body } = cached;
        return { id, envelope, state: initialState(envelope), size: body.length, file: segments.fileOf(location), bodyOffset: location.offset + bodyOffset, body };
      }
      let payload: Buffer;
      try {
        payload = await segments.read(location);
      } catch (error) {
        if (!located.has(id)) return load(id); // moved out or removed meanwhile
        throw new SpoolError('SPOOL_CORRUPT', `cannot read ${id}: ${(error as Error).message}`, { cause: error });
      }
      const parsed = decodeSpoolHeader(payload);
      if (!parsed.ok) throw new SpoolError('SPOOL_CORRUPT', `message ${id} has a ${parsed.reason} header`, { temporary: false });
      const body = payload.subarray(parsed.bodyOffset);
      return { id, envelope: parsed.envelope, state: initialState(parsed.envelope), size: body.length, file: segments.fileOf(location), bodyOffset: location.offset + parsed.bodyOffset, body };
    }
    const file = msgFile(id);
    if (cached && index.has(id) && !journaled.has(id)) {
      const { envelope, bodyOffset, body } = cached;
      return { id, envelope, state: initialState(envelope), size: body.length, file, bodyOffset, body };
    }
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SpoolError('SPOOL_CORRUPT', `cannot open ${id}: ${(error as Error).message}`, { cause: error });
    }
    let head: Buffer;
    let fileSize: number;
    try {
      fileSize = (await handle.stat()).size;
      const want = Math.min(fileSize, FIRST_READ);
      head = Buffer.allocUnsafe(want);
      let got = (await handle.read(head, 0, want, 0)).bytesRead;
      let parsed = decodeSpoolHeader(head.subarray(0, got));
      if (!parsed.ok && parsed.reason === 'incomplete' && fileSize > got) {
        // An unusually long envelope (many recipients): read up to the header limit.
        head = Buffer.allocUnsafe(Math.min(fileSize, MAX_HEADER_BYTES));
        got = (await handle.read(head, 0, head.length, 0)).bytesRead;
        parsed = decodeSpoolHeader(head.subarray(0, got));
      }
      if (!parsed.ok) throw new SpoolError('SPOOL_CORRUPT', `message ${id} has a ${parsed.reason} header`, { temporary: false });
      const { envelope, bodyOffset } = parsed;
      const state = await readState(id, envelope);
      const size = fileSize - bodyOffset;
      const body = cached?.body ?? (got === fileSize ? head.subarray(bodyOffset, got) : undefined);
      return { id, envelope, state, size, file, bodyOffset, ...(body ? { body } : {}) };
    } finally {
      await handle.close();
    }
  }

  async function readState(id: string, envelope: StoredEnvelope): Promise<MessageState> {
    if (exclusive && !journaled.has(id)) return initialState(envelope);
    try {
      return foldJournal(envelope, await readFile(stateFile(id), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return initialState(envelope);
      throw error;
    }
  }

  async function record(id: string, event: JournalEvent): Promise<void> {
    const location = located.get(id);
    if (location) await moveOut(id, location);
    const file = stateFile(id);
    let created = false;
    let handle: FileHandle;
    try {
      handle = await open(file, 'wx');
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      handle = await open(file, 'a');
    }
    try {
      await writeAll(handle, [Buffer.from(encodeEvent(event))]);
      if (event.next !== undefined) {
        const due = new Date(event.next);
        await handle.utimes(due, due);
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    journaled.add(id);
    if (created) await queueSync.sync();
    if (event.next !== undefined && index.has(id)) index.set(id, event.next);
    if (event.kind === 'attempt') cacheDrop(id);
  }

  async function remove(id: string): Promise<void> {
    index.delete(id);
    cacheDrop(id);
    const location = located.get(id);
    if (location) {
      located.delete(id);
      await segments.done(id, location);
      return;
    }
    // The message first: a journal without its message is cleaned up at the next scan,
    // while a message without its journal would be sent again to everyone.
    await unlink(msgFile(id)).catch(ignoreMissing);
    if (journaled.delete(id) || !exclusive) await unlink(stateFile(id)).catch(ignoreMissing);
    await queueSync.sync();
  }

  return {
    dir,
    nextId,
    accept,
    load,
    record,
    remove,
    entries: () => index.entries(),
    dueOf: (id) => index.get(id),
    setDue(id, due) {
      if (index.has(id)) index.set(id, due);
    },
    has: (id) => index.has(id),
    onAccepted(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats() {
      const first = index.keys().next();
      return { size: index.size, oldestReceivedAt: first.done ? undefined : queueIdTime(first.value) };
    },
    async probe() {
      const file = path.join(tmpDir, `.probe-${process.pid}-${Date.now()}`);
      try {
        const handle = await open(file, 'w');
        try {
          await handle.write('ok');
          await handle.datasync();
        } finally {
          await handle.close();
        }
        await unlink(file);
        return !closed;
      } catch {
        await unlink(file).catch(() => undefined);
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      cache.clear();
      listeners.clear();
      await segments.close();
      if (exclusive) await releaseOwner(dir);
    },
  };
}

/** The message stream itself failed (the client went away, the data guard gave up): not a disk problem. */
class MessageStreamError extends Error {
  constructor(cause: unknown) {
    super('message stream failed', { cause });
  }
}

/** Both kinds of spooled message in one index, oldest id (accept time) first. */
function mergeIndex(files: Map<string, number>, segmentIds: readonly string[]): Map<string, number> {
  if (segmentIds.length === 0) return files;
  const all = [...files.entries(), ...segmentIds.map((id): [string, number] => [id, queueIdTime(id) ?? 0])];
  all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(all);
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

