// RateCounter on rate-limiter-flexible: the shared store's (Redis, issue 11,
// src/cluster) and the reference the in-process MemoryRateCounter is tested
// against (memory-rate-counter.ts: the same rules, answered without a promise).
// One limiter per window length (the library fixes the duration per limiter);
// each is used as a pure counter: `points` is set so high that it never
// refuses, penalty() counts, reward() refunds, and the comparison with the real
// limit happens in compare-limits.ts. Windows are fixed: they start with a
// key's first event and end `windowMs` later (then the key is gone).
//
// The factory is the seam for issue 11: pass
//   (seconds) => new RateLimiterRedis({ storeClient, points: NEVER_REFUSE, duration: seconds, keyPrefix })
// and every instance shares the same counts.
import { RateLimiterMemory, type RateLimiterAbstract, type RateLimiterRes } from 'rate-limiter-flexible';
import type { RateCounter, WindowCount } from './counters.ts';

/** Points no limiter will ever reach: the limiters count, they never decide. */
export const NEVER_REFUSE = Number.MAX_SAFE_INTEGER;

export type LimiterFactory = (windowSeconds: number) => RateLimiterAbstract;

export const memoryLimiters: LimiterFactory = (windowSeconds) =>
  new RateLimiterMemory({ points: NEVER_REFUSE, duration: windowSeconds, keyPrefix: `relayguard:rate:${windowSeconds}s` });

export class FlexibleRateCounter implements RateCounter {
  readonly #factory: LimiterFactory;
  readonly #limiters = new Map<number, RateLimiterAbstract>();
  readonly #now: () => number;

  /** `now` must be the clock the limiters use (Date.now for the memory and Redis ones). */
  constructor(factory: LimiterFactory = memoryLimiters, now: () => number = Date.now) {
    this.#factory = factory;
    this.#now = now;
  }

  #limiter(windowMs: number): RateLimiterAbstract {
    const seconds = Math.ceil(windowMs / 1000);
    let limiter = this.#limiters.get(seconds);
    if (!limiter) {
      limiter = this.#factory(seconds);
      this.#limiters.set(seconds, limiter);
    }
    return limiter;
  }

  #count(res: RateLimiterRes): WindowCount {
    return { count: res.consumedPoints, resetAt: this.#now() + Math.max(0, res.msBeforeNext) };
  }

  async add(key: string, windowMs: number, points = 1): Promise<WindowCount> {
    return this.#count(await this.#limiter(windowMs).penalty(key, points));
  }

  async refund(key: string, windowMs: number, added: WindowCount, points = 1): Promise<void> {
    const limiter = this.#limiter(windowMs);
    const now = await limiter.get(key);
    if (now === null || now.msBeforeNext <= 0) return;
    // Same window? Its end moves only by clock jitter; a new window ends at least ~windowMs later.
    const tolerance = Math.min(500, windowMs / 2);
    if (Math.abs(this.#count(now).resetAt - added.resetAt) > tolerance) return;
    await limiter.reward(key, Math.min(points, now.consumedPoints));
  }
}
