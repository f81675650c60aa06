// An append-only file with group commit. append() hands back the offset at
// once and a promise that settles when the bytes are on disk: every append
// that arrives while a synchronous write is in flight goes into the next one,
// so under load many messages share one disk flush (on this class of VM a
// fresh file per message costs ~0.5 ms of kernel time each; one flush for a
// batch of 50 appends costs ~5 µs per message). The file is opened O_DSYNC,
// so a batch is one writev into libuv's thread pool, not a write and an
// fdatasync. Raw fds and the callback API: a FileHandle per call costs more
// than the write itself at these sizes. After a failed write the file is
// broken (what reached the disk is unknown) and refuses further appends.
import { close, constants, fdatasync, openSync, read, writev } from 'node:fs';
import { promisify } from 'node:util';
import { writeFully } from './write-all.ts';

const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const readAsync = promisify(read);
const closeAsync = promisify(close);

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export class AppendFile {
  readonly path: string;
  readonly #fd: number;
  #size: number;
  #pending: Buffer[] = [];
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #broken: unknown;
  #closed = false;
  readonly #sync: boolean;

  private constructor(file: string, fd: number, sync: boolean) {
    this.path = file;
    this.#fd = fd;
    this.#size = 0;
    this.#sync = sync;
  }

  /**
   * Opens for appending (and reading): `create` fails if the file exists (a
   * new segment). Synchronous on purpose: it happens once per segment, and a
   * caller never sees a half-opened file. With `sync: false`, `durable` means
   * written to the kernel (it survives a crash of the process, not of the
   * machine) and close() fdatasyncs.
   */
  static open(file: string, options: { create: boolean; sync?: boolean }): AppendFile {
    const sync = options.sync ?? true;
    // O_DSYNC: each write returns once its data (and the size) is on disk, so a
    // batch costs one call into the thread pool instead of a write and an fdatasync.
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (options.create ? constants.O_EXCL : 0) | (sync ? constants.O_DSYNC : 0);
    const fd = openSync(file, flags, 0o600);
    return new AppendFile(file, fd, sync);
  }

  /** Bytes written or queued so far: the offset of the next append. */
  get size(): number {
    return this.#size;
  }

  get broken(): boolean {
    return this.#broken !== undefined;
  }

  /** Queues the buffers; `durable` settles once they are on disk (for `sync: false`: written). */
  append(buffers: readonly Buffer[]): { offset: number; durable: Promise<void> } {
    const offset = this.#size;
    if (this.#broken !== undefined || this.#closed) {
      return { offset, durable: Promise.reject(this.#broken ?? new Error(`${this.path} is closed`)) };
    }
    for (const buffer of buffers) {
      if (buffer.length === 0) continue;
      this.#pending.push(buffer);
      this.#size += buffer.length;
    }
    const durable = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // setImmediate, not a microtask: appends from every socket read in this turn of the loop join.
    this.#flushing ??= new Promise<void>((done) => {
      setImmediate(() => void this.#flushAll().finally(done));
    });
    return { offset, durable };
  }

  async #flushAll(): Promise<void> {
    while (this.#waiters.length > 0) {
      const buffers = this.#pending;
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      try {
        if (this.#broken !== undefined) throw this.#broken;
        // O_DSYNC (sync files): durable when the write returns. O_APPEND: no position needed.
        await writeFully(async (pending) => (await writevAsync(this.#fd, pending)).bytesWritten, buffers);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        this.#broken ??= error;
        for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.#flushing = undefined;
  }

  /** Reads `length` bytes at `offset` (only bytes already made durable are meant to be read). */
  async read(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await readAsync(this.#fd, buffer, got, length - got, offset + got);
      if (bytesRead === 0) throw new Error(`${this.path}: short read at ${offset + got}`);
      got += bytesRead;
    }
    return buffer;
  }

  /** Waits for queued appends, then closes the fd. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    if (!this.#sync && this.#broken === undefined) await fdatasyncAsync(this.#fd).catch(() => undefined);
    await closeAsync(this.#fd);
  }
}
