// The in-process RateCounter, answering at once: the same counts as
// rate-limiter-flexible's RateLimiterMemory used as a counter (rate-counter.ts,
// which the shared Redis store still uses), without a promise per call. On the
// hot path (every connection, MAIL and RCPT) the library's promises and what
// waited on them were about half of the limits' cost (bench/limits-micro.ts:
// 8.7 -> 4.0 µs and 53 -> 0 promises per session).
//
// RateLimiterMemory's rules (lib/component/MemoryStorage, 11.x), kept exactly
// and checked against the library by test/facts/memory-rate-counter.test.ts:
//   - one store per window length, in whole seconds (ceil(windowMs / 1000));
//   - a key's window is fixed: it starts with the key's first event and ends
//     `seconds` later; an event at or after the end starts a new window with
//     that event's points (the old count is gone);
//   - add() counts past any limit (the counter never refuses) and answers the
//     count and the window's end (FlexibleRateCounter: now + msBeforeNext,
//     which is the end itself);
//   - refund() takes back min(points, count) when the current window ends
//     within min(500 ms, windowMs / 2) of the end `added` reported (the same
//     window), else nothing; a window that is over (or absent) takes nothing;
//   - a window of 0 s never ends (the library's duration 0): its end is
//     reported as now and it is never refunded.
// Points are whole numbers (the library's store parses them as integers).
// The library reads its clock and settles a promise between get() and reward();
// here both happen at once, so a refund never lands in a window that began
// in between (which the library would start below zero).
//
// Memory: the library sets a timer per window to delete it at its end. Here a
// store's windows sit in a Map in the order they began, which, every window of
// a store having the same length, is the order they end: one timer per store
// (unref'd) sweeps the ended ones from the front at the first window's end
// (at most once a second), so a flood of distinct clients holds only the
// windows begun within the last `seconds` (+1 s), as the library's does.
import type { RateCounter, WindowCount } from './counters.ts';

const MAX_DELAY = 2 ** 31 - 1;

interface Window {
  count: number;
  /** Epoch ms; Infinity for a window of 0 s. */
  readonly endsAt: number;
}

/** The windows of one length, oldest first. */
class WindowStore {
  readonly #ms: number;
  readonly #now: () => number;
  readonly windows = new Map<string, Window>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(ms: number, now: () => number) {
    this.#ms = ms;
    this.#now = now;
  }

  /** The key's window, when it has not ended at `now`. */
  current(key: string, now: number): Window | undefined {
    const window = this.windows.get(key);
    return window !== undefined && window.endsAt > now ? window : undefined;
  }

  begin(key: string, points: number, now: number): Window {
    const window: Window = { count: points, endsAt: this.#ms > 0 ? now + this.#ms : Infinity };
    // Deleted first so that the new window goes to the end of the order.
    this.windows.delete(key);
    this.windows.set(key, window);
    if (this.#sweep === undefined && window.endsAt !== Infinity) this.#schedule(window.endsAt - now);
    return window;
  }

  #schedule(ms: number): void {
    // At most once a second; and within setTimeout's range (a longer delay would fire at once).
    this.#sweep = setTimeout(() => this.#sweepEnded(), Math.min(MAX_DELAY, Math.max(1000, ms)));
    this.#sweep.unref();
  }

  #sweepEnded(): void {
    this.#sweep = undefined;
    const now = this.#now();
    for (const [key, window] of this.windows) {
      if (window.endsAt > now) {
        if (window.endsAt !== Infinity) this.#schedule(window.endsAt - now);
        return;
      }
      this.windows.delete(key);
    }
  }
}

export class MemoryRateCounter implements RateCounter {
  readonly #stores = new Map<number, WindowStore>();
  readonly #now: () => number;

  /** `now`: the wall clock (Date.now, as the library); tests pass their own. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #store(windowMs: number): WindowStore {
    const seconds = Math.ceil(windowMs / 1000);
    let store = this.#stores.get(seconds);
    if (store === undefined) {
      // The library refuses these too (its duration must be finite, not negative).
      if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`invalid rate window: ${windowMs} ms`);
      store = new WindowStore(seconds * 1000, this.#now);
      this.#stores.set(seconds, store);
    }
    return store;
  }

  add(key: string, windowMs: number, points = 1): WindowCount {
    const store = this.#store(windowMs);
    const now = this.#now();
    const open = store.current(key, now);
    const window = open ?? store.begin(key, points, now);
    if (open !== undefined) open.count += points;
    return { count: window.count, resetAt: window.endsAt === Infinity ? now : window.endsAt };
  }

  refund(key: string, windowMs: number, added: WindowCount, points = 1): void {
    const window = this.#store(windowMs).current(key, this.#now());
    if (window === undefined || window.endsAt === Infinity) return;
    // Same window? The library compares ends with this tolerance (its clock moves between calls).
    if (Math.abs(window.endsAt - added.resetAt) > Math.min(500, windowMs / 2)) return;
    window.count -= Math.min(points, window.count);
  }

  /** Windows held for `windowMs` (ended ones not yet swept included): for tests and stats. */
  size(windowMs: number): number {
    return this.#stores.get(Math.ceil(windowMs / 1000))?.windows.size ?? 0;
  }
}
