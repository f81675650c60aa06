// Group commit for directory entries. A rename or unlink is durable only once
// its directory is fsynced; concurrent accepts share one directory fsync
// instead of paying for one each. A caller is answered by the first fsync
// that STARTS after its request, so its own rename is always covered.
import { open } from 'node:fs/promises';

export class DirSync {
  readonly #dir: string;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  sync(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#fsync().finally(() => {
        this.#running = undefined;
      });
      return this.#running;
    }
    // One is in flight and may have started before our rename: join the next one.
    if (!this.#next) {
      this.#next = this.#running
        .catch(() => undefined)
        .then(() => {
          this.#next = undefined;
          return this.sync();
        });
    }
    return this.#next;
  }

  async #fsync(): Promise<void> {
    const handle = await open(this.#dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
