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

/** Marks waiting for their write. */
interface Gathering {
  readonly written: Promise<void>;
  /** Writes them now (the linger ran out, or close()). */
  write(): void;
}

export class DoneLog {
  readonly #file: AppendFile;
  /** The file's directory entry is on disk. */
  readonly #ready: Promise<void>;
  /** Ids gathered for the next write, and what their callers wait on. */
  #ids: string[] = [];
  #batch: Gathering | undefined;

  private constructor(file: AppendFile, ready: Promise<void>) {
    this.#file = file;
    this.#ready = ready;
  }

  /** Opens (creating) a segment's done file; its directory entry is fsynced with `dirSync`. */
  static open(file: string, dirSync: DirSync): DoneLog {
    return new DoneLog(AppendFile.open(file, { create: false, sync: false }), dirSync.sync());
  }

  /**
   * Appends the ids; settles once they are written (to the kernel, see above)
   * and the file's name is durable. The ids of one DONE_LINGER_MS are one
   * buffer and one promise (hot path: a mark per delivered message).
   */
  mark(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#ids.push(id);
    this.#batch ??= this.#gather();
    return this.#batch.written;
  }

  #gather(): Gathering {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const written = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const write = () => {
      clearTimeout(timer);
      if (this.#batch !== gathering) return;
      this.#batch = undefined;
      const text = `${this.#ids.join('\n')}\n`;
      this.#ids = [];
      const { durable } = this.#file.append([Buffer.from(text, 'latin1')]);
      Promise.all([durable, this.#ready]).then(() => resolve(), reject);
    };
    const timer = setTimeout(write, DONE_LINGER_MS);
    const gathering: Gathering = { written, write };
    return gathering;
  }

  /** Writes what is gathered, fdatasyncs and closes. */
  close(): Promise<void> {
    this.#batch?.write();
    return this.#file.close();
  }
}

/** PURE. The ids a done file's text marks (a torn last line matches no id). */
export function parseDoneMarks(text: string): Set<string> {
  return new Set(text.split('\n'));
}
