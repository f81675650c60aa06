// Counters of failed AUTH attempts, keyed by "ip:<addr>" or "user:<name>".
// Like Postfix's anvil it only counts; the Authenticator compares the counts
// with the [auth] limits. The interface is async and clock-free so that a
// Redis implementation (scale-out) can replace the in-memory one:
//   recordFailure = INCR key + PEXPIRE key window NX; at the limit
//                   SET lock:key 1 PX lockout, DEL key
//   peek          = GET key, PTTL lock:key
//   reset         = DEL key lock:key
//
// Semantics: failures are counted in a fixed window that starts with the
// first failure. When the count reaches `lockAfter` the key is locked for
// `lockMs` and its count starts again from zero, so after a lockout ends the
// client has the same allowance as a newcomer.

export interface FailureLimits {
  readonly windowMs: number;
  /** Failures within the window that lock the key. */
  readonly lockAfter: number;
  readonly lockMs: number;
}

export interface FailureState {
  /** Failures in the current window (0 right after a lock started). */
  readonly failures: number;
  /** Remaining lockout in ms; 0 when not locked. */
  readonly lockedForMs: number;
}

export interface AuthFailureStore {
  peek(key: string): Promise<FailureState>;
  /** Counts one failure; the result already reflects a lock this failure caused. */
  recordFailure(key: string, limits: FailureLimits): Promise<FailureState>;
  /** Forgets the key's failures (a lock in force stays: see Authenticator). */
  reset(key: string): Promise<void>;
}

interface Entry {
  failures: number;
  windowEndsAt: number;
  lockedUntil: number;
}

export interface MemoryStoreOptions {
  readonly now?: () => number;
  /**
   * Upper bound on tracked keys, so a spray of user names cannot grow memory
   * without limit. Beyond it expired keys go first, then the oldest.
   */
  readonly maxKeys?: number;
}

export class MemoryAuthFailureStore implements AuthFailureStore {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #maxKeys: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  async peek(key: string): Promise<FailureState> {
    const entry = this.#live(key, this.#now());
    return entry ? this.#state(entry) : { failures: 0, lockedForMs: 0 };
  }

  async recordFailure(key: string, limits: FailureLimits): Promise<FailureState> {
    const now = this.#now();
    let entry = this.#live(key, now);
    if (!entry) {
      entry = { failures: 0, windowEndsAt: 0, lockedUntil: 0 };
      this.#makeRoom(now);
    }
    // Re-insert so Map order is "least recently failed first" for eviction.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (entry.windowEndsAt <= now) {
      entry.failures = 0;
      entry.windowEndsAt = now + limits.windowMs;
    }
    entry.failures++;
    if (entry.failures >= limits.lockAfter && entry.lockedUntil <= now) {
      entry.lockedUntil = now + limits.lockMs;
      entry.failures = 0;
      entry.windowEndsAt = 0;
    }
    return this.#state(entry);
  }

  async reset(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (entry.lockedUntil > this.#now()) {
      entry.failures = 0;
      entry.windowEndsAt = 0;
    } else {
      this.#entries.delete(key);
    }
  }

  #state(entry: Entry): FailureState {
    const now = this.#now();
    return {
      failures: entry.windowEndsAt > now ? entry.failures : 0,
      lockedForMs: Math.max(0, entry.lockedUntil - now),
    };
  }

  /** The entry if anything in it still matters at `now`; drops it otherwise. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.windowEndsAt <= now && entry.lockedUntil <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #makeRoom(now: number): void {
    if (this.#entries.size < this.#maxKeys) return;
    for (const [key, entry] of this.#entries) {
      if (entry.windowEndsAt <= now && entry.lockedUntil <= now) this.#entries.delete(key);
    }
    // Still full: forget the least recently failed tenth (Map keeps insertion
    // order), so the sweeps run once per many insertions, not each one. Locks
    // go last: a spray of new keys must not be a way to lift a lockout.
    const target = Math.floor(this.#maxKeys * 0.9);
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= target) return;
      if (entry.lockedUntil <= now) this.#entries.delete(key);
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= target) return;
      this.#entries.delete(key);
    }
  }
}
