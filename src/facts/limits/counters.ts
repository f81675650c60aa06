// The counters behind the limits, and nothing else: like Postfix's anvil they
// count and never compare (compare-limits.ts does, with the thresholds of
// limits.toml). Both interfaces are async so that a shared store (Redis,
// issue 11) can replace the in-process one without touching callers:
//   RateCounter         events per fixed window (connections, messages, recipients)
//   ConcurrencyCounter  what is open right now (connections per client, global)
// The in-process rate counter is rate-limiter-flexible's RateLimiterMemory
// (rate-counter.ts); its RateLimiterRedis drops into the same factory.

/** A window's count after an operation. */
export interface WindowCount {
  readonly count: number;
  /** When the window ends (epoch ms); identifies the window a refund belongs to. */
  readonly resetAt: number;
}

export interface RateCounter {
  /** Counts `points` events for `key` in its current window of `windowMs`. */
  add(key: string, windowMs: number, points?: number): Promise<WindowCount>;
  /**
   * Takes back points that `add` counted, so a refused attempt does not count.
   * No effect once the window `added` belongs to is over (the new window must
   * not start below zero).
   */
  refund(key: string, windowMs: number, added: WindowCount, points?: number): Promise<void>;
}

export interface ConcurrencyCounter {
  /** One more open under `key`; resolves with how many are open now, this one included. */
  acquire(key: string): Promise<number>;
  /** One fewer open under `key`. */
  release(key: string): Promise<void>;
  /** Open now under `key` (for stats and tests). */
  current(key: string): number;
}

/** Open connections, in this process: a connection is released when it closes. */
export class MemoryConcurrencyCounter implements ConcurrencyCounter {
  readonly #open = new Map<string, number>();

  async acquire(key: string): Promise<number> {
    const count = (this.#open.get(key) ?? 0) + 1;
    this.#open.set(key, count);
    return count;
  }

  async release(key: string): Promise<void> {
    const count = (this.#open.get(key) ?? 0) - 1;
    // Deleting at zero keeps the map as small as the set of clients connected now.
    if (count <= 0) this.#open.delete(key);
    else this.#open.set(key, count);
  }

  current(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Keys with something open (a flood from many addresses shows here). */
  get size(): number {
    return this.#open.size;
  }
}
