// The accept path. A message up to SMALL_MESSAGE is collected in memory and
// appended to the current segment: every accept in flight shares one
// synchronous write (segments.ts, append-file.ts). A larger one streams to
// tmp/ with back-pressure and gets a file of its own (message-files.ts).
// accept() resolves only once the message is on disk: the 250 is sent after.
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/logger.ts';
import { SpoolError } from './errors.ts';
import { isQueueId } from './queue-id.ts';
import { encodeStoredHeader, storedEnvelope } from './spool-file.ts';
import type { HeldMessages } from './held-messages.ts';
import type { AcceptedListener } from './spool-types.ts';
import type { MessageHolders } from './stored-messages.ts';
import type { AcceptOptions, Envelope } from './types.ts';
import { SharedBodies } from './shared-bodies.ts';
import { writeAll } from './write-all.ts';

/** Messages up to this size go to a segment and are cached for the first attempt. */
export const SMALL_MESSAGE = 128 * 1024;
/** Large messages are written in batches of about this size. */
const WRITE_BATCH = 256 * 1024;

/** accept() adds each message to `located` (segment messages), `index` (due at once) and `cache` (small bodies). */
export interface IntakeDeps extends MessageHolders {
  readonly nextId: () => string;
  readonly logger: Logger;
  readonly held: HeldMessages;
}

export class Intake {
  readonly #deps: IntakeDeps;
  readonly #listeners = new Set<AcceptedListener>();
  readonly #bodies = new SharedBodies();
  #closed = false;

  constructor(deps: IntakeDeps) {
    this.#deps = deps;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async accept(envelope: Envelope, message: Readable | Buffer, acceptOptions?: AcceptOptions): Promise<string> {
    if (this.#closed) throw new SpoolError('SPOOL_CLOSED', 'the spool is closed');
    const { paths, files, segments, located, logger } = this.#deps;
    const id = acceptOptions?.id ?? this.#deps.nextId();
    if (!isQueueId(id)) throw new SpoolError('SPOOL_WRITE_FAILED', `invalid queue id ${JSON.stringify(id)}`, { temporary: false });
    const hold = acceptOptions?.hold;
    // One object for the header and the body cache (hot path: one spread of the envelope per message).
    const stored = storedEnvelope(id, envelope, hold);
    const header = encodeStoredHeader(stored);
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
        collected = await collect(message, header, paths.tmpFile(id), this.#bodies);
        check();
      }
      if ('body' in collected) {
        body = collected.body;
        if (body.length <= SMALL_MESSAGE) {
          if (this.#closed) throw new SpoolError('SPOOL_CLOSED', 'the spool is closed');
          located.set(id, await segments.append([header, body]));
        } else {
          const handle = await files.openTmp(id);
          await files.commit(id, handle, [header, body]);
        }
      } else {
        await files.commit(id, collected.handle, collected.rest);
      }
    } catch (error) {
      if (collected && 'handle' in collected) {
        // A large message refused by check(), or a failed commit (commit() has cleaned up already).
        await collected.handle.close().catch(() => undefined);
        await unlink(paths.tmpFile(id)).catch(() => undefined);
      }
      if (refused) throw refused.error;
      if (error instanceof SpoolError) throw error;
      if (error instanceof MessageStreamError) {
        throw new SpoolError('SPOOL_MESSAGE_STREAM', `message stream failed: ${(error.cause as Error).message}`, { cause: error.cause });
      }
      logger.error({ err: error, queueId: id }, 'spool write failed');
      throw new SpoolError('SPOOL_WRITE_FAILED', `spool write failed: ${(error as Error).message}`, { cause: error });
    }
    const due = hold ? hold.until : envelope.receivedAt;
    if (hold) {
      // The hold is on disk with the message; the marker only helps the next start count it.
      await this.#deps.held.add(id, hold).catch((error: unknown) => logger.error({ err: error, queueId: id }, 'cannot write a hold marker'));
    }
    this.#deps.index.set(id, due);
    if (body) this.#deps.cache.put(id, stored, header.length, body);
    for (const listener of this.#listeners) {
      try {
        listener(id, due);
      } catch (error) {
        logger.error({ err: error, queueId: id }, 'accept listener failed');
      }
    }
    return id;
  }

  onAccepted(listener: AcceptedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Refuses further accepts (one already appending to a segment still completes). */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}

/**
 * Reads the message stream: a small message whole into memory; from
 * SMALL_MESSAGE on, the rest streams into `tmp` in batches (the handle is
 * returned with what is left to write). A stream error rejects with
 * MessageStreamError; after a disk error the stream is still read to its
 * end, so the SMTP session can answer the final dot instead of hanging.
 */
async function collect(message: Readable, header: Buffer, tmp: string, bodies: SharedBodies): Promise<{ body: Buffer } | { handle: FileHandle; rest: Buffer[] }> {
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
  return handle ? { handle, rest: chunks } : { body: bodies.join(chunks, size) };
}

/** The message stream itself failed (the client went away, the data guard gave up): not a disk problem. */
class MessageStreamError extends Error {
  constructor(cause: unknown) {
    super('message stream failed', { cause });
  }
}
