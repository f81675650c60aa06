// Just-accepted small messages (envelope and body) kept in memory, so the
// first delivery attempt needs no I/O. Bounded by bytes; the oldest entries
// go first. No I/O.
import type { StoredEnvelope } from './spool-file.ts';

export interface CachedMessage {
  readonly envelope: StoredEnvelope;
  /** Where the body starts in the message's stored payload (the header length). */
  readonly bodyOffset: number;
  readonly body: Buffer;
}

export class BodyCache {
  readonly #entries = new Map<string, CachedMessage>();
  readonly #limit: number;
  readonly #maxBody: number;
  #bytes = 0;

  /** `limit` bytes in all (0: nothing is cached); bodies over `maxBody` bytes are never cached. */
  constructor(limit: number, maxBody: number) {
    this.#limit = limit;
    this.#maxBody = maxBody;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(id: string): CachedMessage | undefined {
    return this.#entries.get(id);
  }

  put(id: string, envelope: StoredEnvelope, bodyOffset: number, body: Buffer): void {
    if (this.#limit <= 0 || body.length > this.#maxBody) return;
    this.#entries.set(id, { envelope, bodyOffset, body });
    this.#bytes += body.length;
    for (const [oldId, old] of this.#entries) {
      if (this.#bytes <= this.#limit) break;
      this.#entries.delete(oldId);
      this.#bytes -= old.body.length;
    }
  }

  drop(id: string): void {
    const entry = this.#entries.get(id);
    if (entry) {
      this.#entries.delete(id);
      this.#bytes -= entry.body.length;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
