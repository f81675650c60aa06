// The durable spool. Layout under `dir`:
//   tmp/<id>.msg        being written; anything here at start is a torn write and is removed
//   queue/<id>.msg      the message (spool-file.ts): complete and fsynced before accept() resolves
//   queue/<id>.state    the recipient journal (state-journal.ts); its mtime is set to the next
//                       attempt time so a start-up scan needs a stat, not a read, per message
//   control/            requests from `relayguard queue` to the running server (control.ts)
//   owner               pid of the process running the queue (spool-lock.ts)
// Accept path: write to tmp (small messages in one write, large ones streamed
// with back-pressure), fdatasync, rename into queue/, then a directory fsync
// shared with every concurrent accept (dir-sync.ts).
// In memory: only an index id -> next attempt time, and a bounded cache of
// small just-accepted bodies so the first delivery attempt needs no read.
import { mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../observability/logger.ts';
import { DirSync } from './dir-sync.ts';
import { SpoolError } from './errors.ts';
import { createQueueIdGenerator, isQueueId, queueIdTime } from './queue-id.ts';
import { scan } from './spool-scan.ts';
import { exactBuffer, writeAll } from './write-all.ts';
import { acquireOwner, releaseOwner } from './spool-lock.ts';
import { decodeSpoolHeader, encodeSpoolHeader, MAX_HEADER_BYTES, type StoredEnvelope } from './spool-file.ts';
import { encodeEvent, foldJournal, initialState, type JournalEvent, type MessageState } from './state-journal.ts';
import type { AcceptOptions, Envelope, SpoolIntake } from './types.ts';

/** Messages up to this size are written with one writev and cached for the first attempt. */
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
  const scanned = exclusive ? await scan(queueDir, tmpDir, logger) : { index: new Map<string, number>(), journaled: new Set<string>() };
  const index = scanned.index;
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
    const tmp = path.join(tmpDir, `${id}.msg`);
    const final = msgFile(id);
    let handle: FileHandle | undefined;
    let body: Buffer | undefined;
    let renamed = false;
    let stage: 'stream' | 'disk' = 'disk';
    let refused: { error: unknown } | undefined;
    const check = () => {
      try {
        acceptOptions?.check?.();
      } catch (error) {
        refused = { error };
        throw error;
      }
    };
    try {
      if (Buffer.isBuffer(message)) {
        check();
        body = message;
        handle = await open(tmp, 'wx');
        await writeAll(handle, [header, body]);
      } else {
        stage = 'stream';
        let chunks: Buffer[] = [];
        let size = 0;
        let diskError: { error: unknown } | undefined;
        for await (const raw of message) {
          // After a disk error the rest is still read (and dropped), so the SMTP session can
          // answer the end of DATA with a temporary failure instead of hanging.
          if (diskError) continue;
          const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
          chunks.push(chunk);
          size += chunk.length;
          try {
            if (!handle && size > SMALL_MESSAGE) {
              // Too big to hold: from here on it streams to disk in batches.
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
        stage = 'disk';
        if (diskError) throw diskError.error;
        check();
        if (!handle) {
          body = exactBuffer(chunks, size);
          handle = await open(tmp, 'wx');
          await writeAll(handle, [header, body]);
        } else if (chunks.length > 0) {
          await writeAll(handle, chunks);
        }
      }
      await handle.datasync();
      await handle.close();
      handle = undefined;
      await rename(tmp, final);
      renamed = true;
      await queueSync.sync();
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await unlink(renamed ? final : tmp).catch(() => undefined);
      if (refused) throw refused.error;
      if (error instanceof SpoolError) throw error;
      if (stage === 'stream') {
        throw new SpoolError('SPOOL_MESSAGE_STREAM', `message stream failed: ${(error as Error).message}`, { cause: error });
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

  async function load(id: string): Promise<LoadedMessage | undefined> {
    const file = msgFile(id);
    const cached = cache.get(id);
    if (cached && index.has(id) && !journaled.has(id)) {
      // Accepted by this process and never attempted: everything is in memory.
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
      if (exclusive) await releaseOwner(dir);
    },
  };
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

