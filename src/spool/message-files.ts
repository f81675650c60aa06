// Messages with a file of their own in queue/ (large ones, and any message
// moved out of its segment at its first journal event). A file is written in
// tmp/, fdatasynced, renamed into queue/, and the directory fsync is shared
// with every concurrent commit (dir-sync.ts), so a file in queue/ is whole.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { SpoolError } from './errors.ts';
import type { DirSync } from './dir-sync.ts';
import type { JournalFiles } from './journal-files.ts';
import { ignoreMissing, isMissing } from './missing-file.ts';
import { decodeSpoolHeader, MAX_HEADER_BYTES } from './spool-file.ts';
import type { SpoolPaths } from './spool-paths.ts';
import type { LoadedMessage } from './spool-types.ts';
import { writeAll } from './write-all.ts';

/** First read of a message file: header and, for most messages, the whole body. */
const FIRST_READ = 64 * 1024;

export class MessageFiles {
  readonly #paths: SpoolPaths;
  readonly #queueSync: DirSync;
  readonly #journals: JournalFiles;

  constructor(paths: SpoolPaths, queueSync: DirSync, journals: JournalFiles) {
    this.#paths = paths;
    this.#queueSync = queueSync;
    this.#journals = journals;
  }

  /** A new file in tmp/ for a message (fails if one is there). */
  openTmp(id: string): Promise<FileHandle> {
    return open(this.#paths.tmpFile(id), 'wx');
  }

  /** Writes the rest, fdatasyncs, renames into queue/ and shares a directory fsync; on failure leaves nothing behind. */
  async commit(id: string, handle: FileHandle, rest: Buffer[]): Promise<void> {
    const tmp = this.#paths.tmpFile(id);
    let renamed = false;
    try {
      await writeAll(handle, rest);
      await handle.datasync();
      await handle.close();
      await rename(tmp, this.#paths.msgFile(id));
      renamed = true;
      await this.#queueSync.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(renamed ? this.#paths.msgFile(id) : tmp).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Reads queue/<id>.msg (`file`): the header, the journal's state and, when
   * the first read holds all of it (or `cachedBody` is given), the body.
   * undefined when there is no such file.
   */
  async read(id: string, file: string, cachedBody: Buffer | undefined): Promise<LoadedMessage | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
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
      const state = await this.#journals.read(id, envelope);
      const size = fileSize - bodyOffset;
      const body = cachedBody ?? (got === fileSize ? head.subarray(bodyOffset, got) : undefined);
      return { id, envelope, state, size, file, bodyOffset, ...(body ? { body } : {}) };
    } finally {
      await handle.close();
    }
  }

  /** Unlinks queue/<id>.msg; a missing one is fine. */
  unlink(id: string): Promise<void> {
    return unlink(this.#paths.msgFile(id)).catch(ignoreMissing);
  }
}
