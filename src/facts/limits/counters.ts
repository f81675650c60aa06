// The counters behind the limits, and nothing else: like Postfix's anvil they
// count and never compare (compare-limits.ts does, with the thresholds of
// limits.toml). A counter answers with a value when it has the answer at once
// (the in-process ones: no promise per connection, MAIL and RCPT) or with a
// promise when it must wait (a shared store: Redis, issue 11); callers take both:
//   RateCounter         events per fixed window (connections, messages, recipients)
//   ConcurrencyCounter  what is open right now (connections per client, global)
// The in-process rate counter is MemoryRateCounter (memory-rate-counter.ts:
// rate-limiter-flexible's RateLimiterMemory rules, answered at once); the
// shared one is RateLimiterRedis through FlexibleRateCounter (rate-counter.ts).

/** A value at once, or a promise of it. */
export type Answer<T> = T | Promise<T>;

/** Whether a counter's answer must be waited for. */
export function isPending<T>(answer: Answer<T>): answer is Promise<T> {
  return typeof (answer as Partial<PromiseLike<T>> | undefined)?.then === 'function';
}

/** A window's count after an operation. */
export interface WindowCount {
  readonly count: number;
  /** When the window ends (epoch ms); identifies the window a refund belongs to. */
  readonly resetAt: number;
}

export interface RateCounter {
  /** Counts `points` events for `key` in its current window of `windowMs`. */
  add(key: string, windowMs: number, points?: number): Answer<WindowCount>;
  /**
   * Takes back points that `add` counted, so a refused attempt does not count.
   * No effect once the window `added` belongs to is over (the new window must
   * not start below zero).
   */
  refund(key: string, windowMs: number, added: WindowCount, points?: number): Answer<void>;
}

export interface ConcurrencyCounter {
  /** One more open under `key`; answers how many are open now, this one included. */
  acquire(key: string): Answer<number>;
  /** One fewer open under `key`. */
  release(key: string): Answer<void>;
  /** Open now under `key` (for stats and tests). */
  current(key: string): number;
}

/** Open connections, in this process: a connection is released when it closes. Answers at once. */
export class MemoryConcurrencyCounter implements ConcurrencyCounter {
  readonly #open = new Map<string, number>();

  acquire(key: string): number {
    const count = (this.#open.get(key) ?? 0) + 1;
    this.#open.set(key, count);
    return count;
  }

  release(key: string): void {
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
