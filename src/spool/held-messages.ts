// Which messages are held (state-journal.ts HoldMark): the journal (or, for a
// message held at accept time, its stored envelope) is the truth; this part
// keeps the in-memory set the queue runner, `queue list --held` and the
// metrics read, and the marker files that let the start-up scan rebuild the
// set without reading every journal:
//   queue/<id>.held   a message with a file of its own is held (JSON of its HoldMark)
// A segment message can only be held at accept time, and segment recovery
// reads its envelope anyway, so it needs no marker. A marker can disagree with
// the journal only after a crash between the two writes; the queue runner
// loads every message before it delivers it and reconciles (reconcile()):
// a held message is never delivered because a marker was missing or stale.
import { open, unlink } from 'node:fs/promises';
import type { DirSync } from './dir-sync.ts';
import { ignoreMissing } from './missing-file.ts';
import type { SegmentLocation } from './segments.ts';
import type { SpoolPaths } from './spool-paths.ts';
import type { HoldMark } from './state-journal.ts';

export class HeldMessages {
  readonly #paths: SpoolPaths;
  readonly #queueSync: DirSync;
  readonly #located: ReadonlyMap<string, SegmentLocation>;
  readonly #writable: boolean;
  readonly #ids: Set<string>;

  constructor(paths: SpoolPaths, queueSync: DirSync, located: ReadonlyMap<string, SegmentLocation>, writable: boolean, ids: Set<string>) {
    this.#paths = paths;
    this.#queueSync = queueSync;
    this.#located = located;
    this.#writable = writable;
    this.#ids = ids;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  get size(): number {
    return this.#ids.size;
  }

  ids(): string[] {
    return [...this.#ids];
  }

  /** The message is held (its journal or envelope says so already): marker (for a file message) and set. */
  async add(id: string, mark: HoldMark): Promise<void> {
    if (this.#writable && !this.#located.has(id)) {
      const handle = await open(this.#paths.heldFile(id), 'w');
      try {
        await handle.writeFile(`${JSON.stringify(mark)}\n`);
      } finally {
        await handle.close();
      }
      await this.#queueSync.sync();
    }
    this.#ids.add(id);
  }

  /** The message is no longer held (released, or removed): set and marker. */
  async drop(id: string): Promise<void> {
    const known = this.#ids.delete(id);
    // No directory fsync: a marker that comes back after a crash is reconciled at the next load.
    if (this.#writable && known && !this.#located.has(id)) await unlink(this.#paths.heldFile(id)).catch(ignoreMissing);
  }

  /** Forgets a message without touching its marker (the quarantine takes the files). */
  forget(id: string): void {
    this.#ids.delete(id);
  }

  /** After a load: make the set (and marker) agree with what the message's state says. */
  async reconcile(id: string, held: HoldMark | undefined): Promise<void> {
    if (held && !this.#ids.has(id)) await this.add(id, held);
    else if (!held && this.#ids.has(id)) await this.drop(id);
  }
}
