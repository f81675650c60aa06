// A spooled message lives in a segment (segments.ts) until its first journal
// event, then in a file of its own (message-files.ts) with its journal
// (journal-files.ts). This part knows which, and loads, records and removes
// accordingly. Removing a segment message is a done mark, which is not
// awaited to the disk (segments.ts); removing a file is an unlink of the
// message, then of its journal, then a shared directory fsync.
import type { BodyCache } from './body-cache.ts';
import type { DirSync } from './dir-sync.ts';
import { SpoolError } from './errors.ts';
import type { HeldMessages } from './held-messages.ts';
import type { Quarantine } from './quarantine.ts';
import type { JournalFiles } from './journal-files.ts';
import type { MessageFiles } from './message-files.ts';
import type { SegmentLocation, SegmentStore } from './segments.ts';
import { decodeSpoolHeader, encodeSpoolHeader } from './spool-file.ts';
import type { SpoolPaths } from './spool-paths.ts';
import type { LoadedMessage } from './spool-types.ts';
import { initialState, type JournalEvent } from './state-journal.ts';

/** Where messages are held: what both the intake and this part work on. */
export interface MessageHolders {
  readonly paths: SpoolPaths;
  readonly files: MessageFiles;
  readonly segments: SegmentStore;
  /** Messages that live in a segment (the others have a file in queue/). */
  readonly located: Map<string, SegmentLocation>;
  /** id -> due time, oldest id first. */
  readonly index: Map<string, number>;
  /** Just-accepted bodies. */
  readonly cache: BodyCache;
}

export interface StoredMessagesDeps extends MessageHolders {
  readonly queueSync: DirSync;
  readonly journals: JournalFiles;
  readonly held: HeldMessages;
  /** Where corrupt message files go; undefined read-only (the CLI moves nothing). */
  readonly quarantine: Quarantine | undefined;
}

export class StoredMessages {
  readonly #deps: StoredMessagesDeps;

  constructor(deps: StoredMessagesDeps) {
    this.#deps = deps;
  }

  async load(id: string): Promise<LoadedMessage | undefined> {
    const { segments, located, index, journals } = this.#deps;
    const cached = this.#deps.cache.get(id);
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
        if (!located.has(id)) return this.load(id); // moved out or removed meanwhile
        throw new SpoolError('SPOOL_CORRUPT', `cannot read ${id}: ${(error as Error).message}`, { cause: error });
      }
      const parsed = decodeSpoolHeader(payload);
      if (!parsed.ok) throw new SpoolError('SPOOL_CORRUPT', `message ${id} has a ${parsed.reason} header`, { temporary: false });
      const body = payload.subarray(parsed.bodyOffset);
      return { id, envelope: parsed.envelope, state: initialState(parsed.envelope), size: body.length, file: segments.fileOf(location), bodyOffset: location.offset + parsed.bodyOffset, body };
    }
    const file = this.#deps.paths.msgFile(id);
    if (cached && index.has(id) && !journals.has(id)) {
      const { envelope, bodyOffset, body } = cached;
      return { id, envelope, state: initialState(envelope), size: body.length, file, bodyOffset, body };
    }
    try {
      return await this.#deps.files.read(id, file, cached?.body);
    } catch (error) {
      const { quarantine } = this.#deps;
      if (!(error instanceof SpoolError) || error.code !== 'SPOOL_CORRUPT' || error.temporary || !quarantine || !index.has(id)) throw error;
      // Damage, not a passing failure: out of the queue into the quarantine, logged once, never retried forever.
      index.delete(id);
      this.#deps.cache.drop(id);
      this.#deps.held.forget(id);
      journals.forget(id);
      const { paths } = this.#deps;
      await quarantine.moveIn(id, [paths.msgFile(id), paths.stateFile(id), paths.heldFile(id)], error.message, paths.queueDir);
      return undefined;
    }
  }

  async record(id: string, event: JournalEvent): Promise<void> {
    const location = this.#deps.located.get(id);
    // Removed while it was being moved out: no journal for a message that is gone.
    if (location && !(await this.#moveOut(id, location))) return;
    await this.#deps.journals.append(id, event);
    const { index } = this.#deps;
    if (event.next !== undefined && index.has(id)) index.set(id, event.next);
    if (event.kind === 'attempt') this.#deps.cache.drop(id);
  }

  /**
   * Gives a segment message a file of its own in queue/ (before its journal starts), then retires the segment copy.
   * false: remove() took the message meanwhile, and the file just written is gone again.
   */
  async #moveOut(id: string, location: SegmentLocation): Promise<boolean> {
    const { files, segments } = this.#deps;
    const cached = this.#deps.cache.get(id);
    const payload = cached ? [encodeSpoolHeader(id, cached.envelope, cached.envelope.held), cached.body] : [await segments.read(location)];
    const handle = await files.openTmp(id);
    await files.commit(id, handle, payload);
    if (this.#deps.located.get(id) !== location) {
      // Removed meanwhile: remove() took the location and marked the record done itself; the
      // queue file written here would bring the message back (at load, and after a restart).
      await files.unlink(id);
      await this.#deps.queueSync.sync();
      return false;
    }
    this.#deps.located.delete(id);
    await segments.done(id, location);
    return true;
  }

  async remove(id: string): Promise<void> {
    const { located, journals, segments } = this.#deps;
    if (!segments.writable) throw new SpoolError('SPOOL_WRITE_FAILED', `cannot remove ${id}: the spool is open read-only`, { temporary: false });
    this.#deps.index.delete(id);
    this.#deps.cache.drop(id);
    const location = located.get(id);
    if (location) {
      // Before the first await, the location is taken: a second remove() of the same
      // message in this turn finds none, so the record is marked done exactly once.
      const dropping = this.#deps.held.drop(id); // (it looks at `located` synchronously: no marker file for a segment message)
      located.delete(id);
      await dropping;
      await segments.done(id, location);
      return;
    }
    await this.#deps.held.drop(id);
    // The message first: a journal without its message is cleaned up at the next scan,
    // while a message without its journal would be sent again to everyone.
    await this.#deps.files.unlink(id);
    if (journals.forget(id)) await journals.unlink(id);
    await this.#deps.queueSync.sync();
  }
}
