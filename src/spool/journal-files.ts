// The recipient journals on disk: queue/<id>.state (its format and fold are
// in state-journal.ts). An append is fdatasynced before record() resolves,
// and the file's mtime is set to the next attempt time, so the start-up scan
// learns every due time with a stat instead of a read. A journal's directory
// entry is fsynced once, when the file is created.
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import type { DirSync } from './dir-sync.ts';
import { ignoreMissing, isMissing } from './missing-file.ts';
import type { StoredEnvelope } from './spool-file.ts';
import type { SpoolPaths } from './spool-paths.ts';
import { SpoolError } from './errors.ts';
import { encodeEvent, foldJournalChecked, initialState, type JournalEvent, type MessageState } from './state-journal.ts';
import { writeAll } from './write-all.ts';

export class JournalFiles {
  readonly #paths: SpoolPaths;
  readonly #queueSync: DirSync;
  /** false: the CLI looking at a running server's spool, whose journals it does not know about. */
  readonly #exclusive: boolean;
  /** Messages that have a journal file (from the scan, or since their first append). */
  readonly #journaled: Set<string>;

  constructor(paths: SpoolPaths, queueSync: DirSync, exclusive: boolean, journaled: Set<string>) {
    this.#paths = paths;
    this.#queueSync = queueSync;
    this.#exclusive = exclusive;
    this.#journaled = journaled;
  }

  has(id: string): boolean {
    return this.#journaled.has(id);
  }

  /**
   * The state of a message: its journal folded, or the initial state when it
   * has none. A journal with complete lines that are not events is damaged:
   * which recipients were delivered is unknown, so it is SPOOL_CORRUPT (not
   * temporary) rather than a guess that would send the message again to all.
   */
  async read(id: string, envelope: StoredEnvelope): Promise<MessageState> {
    if (this.#exclusive && !this.#journaled.has(id)) return initialState(envelope);
    let text: string;
    try {
      text = await readFile(this.#paths.stateFile(id), 'utf8');
    } catch (error) {
      if (isMissing(error)) return initialState(envelope);
      throw error;
    }
    const { state, badLines } = foldJournalChecked(envelope, text);
    if (badLines.length > 0) {
      throw new SpoolError('SPOOL_CORRUPT', `the journal of ${id} has lines that are not events (line ${badLines.slice(0, 5).join(', ')})`, { temporary: false });
    }
    return state;
  }

  /** Appends one event durably (and its directory entry, for a new journal). */
  async append(id: string, event: JournalEvent): Promise<void> {
    const file = this.#paths.stateFile(id);
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
    this.#journaled.add(id);
    if (created) await this.#queueSync.sync();
  }

  /**
   * Forgets a message's journal; true when its file is to be unlinked (it had
   * one, or, read-only, it may have one). Synchronous so remove() awaits the
   * unlink only when there is one.
   */
  forget(id: string): boolean {
    return this.#journaled.delete(id) || !this.#exclusive;
  }

  /** Unlinks a journal; a missing one is fine. */
  unlink(id: string): Promise<void> {
    return unlink(this.#paths.stateFile(id)).catch(ignoreMissing);
  }
}
