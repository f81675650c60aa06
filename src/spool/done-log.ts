// Done marks: <seq>.done next to a segment lists, one per line, the ids of
// its records that need no delivery any more (delivered, bounced, deleted, or
// moved to a file of their own). Marks are gathered for DONE_LINGER_MS,
// written, but not fdatasynced (the kernel writes them back within seconds;
// close() syncs): like Postfix's unlink of a delivered queue file, a crash may
// lose the last ones, which costs a repeated delivery, never a lost message.
import { AppendFile } from './append-file.ts';
import type { DirSync } from './dir-sync.ts';

/**
 * Done marks gather this long before one write: nobody waits on them but the
 * queue runner's bookkeeping, and one write per batch of deliveries is a
 * hand-off to the thread pool saved per delivery. A process crash may lose
 * the last ones (repeated deliveries, as for a machine crash).
 */
export const DONE_LINGER_MS = 20;

export class DoneLog {
  readonly #file: AppendFile;
  /** The file's directory entry is on disk. */
  readonly #ready: Promise<void>;

  private constructor(file: AppendFile, ready: Promise<void>) {
    this.#file = file;
    this.#ready = ready;
  }

  /** Opens (creating) a segment's done file; its directory entry is fsynced with `dirSync`. */
  static open(file: string, dirSync: DirSync): DoneLog {
    return new DoneLog(AppendFile.open(file, { create: false, sync: false, lingerMs: DONE_LINGER_MS }), dirSync.sync());
  }

  /** Appends the ids; settles once they are written (to the kernel, see above) and the file's name is durable. */
  mark(ids: readonly string[]): Promise<[void, void]> {
    const { durable } = this.#file.append([Buffer.from(`${ids.join('\n')}\n`, 'latin1')]);
    return Promise.all([durable, this.#ready]);
  }

  /** Writes what is gathered, fdatasyncs and closes. */
  close(): Promise<void> {
    return this.#file.close();
  }
}

/** PURE. The ids a done file's text marks (a torn last line matches no id). */
export function parseDoneMarks(text: string): Set<string> {
  return new Set(text.split('\n'));
}
