// The limits' RateCounter on Redis, so a limit of N per client is N across
// every instance: rate-limiter-flexible's RateLimiterRedis dropped into the
// same FlexibleRateCounter the in-process counters use (one limiter per window
// length, used as a pure counter; see facts/limits/rate-counter.ts). Every
// call goes through the link, bounded by cluster.command_timeout.
//
// When Redis fails or is down:
//   fail_open = true   the event is counted in this process instead, so each
//                      instance still holds the limit on its own share
//   fail_open = false  add() throws; the limits provider turns that into a
//                      4xx (limits.unavailable)
// A refund goes back to where its add() was counted (the fallback remembers
// its own results), and a refund that fails is dropped: at worst one event
// stays counted until its window ends.
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateCounter, WindowCount } from '../facts/limits/counters.ts';
import { FlexibleRateCounter, NEVER_REFUSE, memoryLimiters, type LimiterFactory } from '../facts/limits/rate-counter.ts';
import type { RedisLink } from './redis-link.ts';

export function redisLimiters(link: RedisLink, keyPrefix: string): LimiterFactory {
  return (windowSeconds) =>
    new RateLimiterRedis({
      storeClient: link.client,
      points: NEVER_REFUSE,
      duration: windowSeconds,
      keyPrefix: `${keyPrefix}rate:${windowSeconds}s`,
      // Fail at once on a connection that is not ready instead of queueing.
      rejectIfRedisNotReady: true,
    });
}

export interface SharedRateCounterOptions {
  readonly link: RedisLink;
  readonly keyPrefix: string;
  readonly failOpen: boolean;
  /** The fallback (fail_open); default in-process rate-limiter-flexible. */
  readonly local?: RateCounter;
}

export class SharedRateCounter implements RateCounter {
  readonly #link: RedisLink;
  readonly #shared: FlexibleRateCounter;
  readonly #local: RateCounter;
  readonly #failOpen: boolean;
  /** Counts the fallback made, so their refunds go back to it. */
  readonly #countedLocally = new WeakSet<WindowCount>();

  constructor(options: SharedRateCounterOptions) {
    this.#link = options.link;
    this.#shared = new FlexibleRateCounter(redisLimiters(options.link, options.keyPrefix));
    this.#local = options.local ?? new FlexibleRateCounter(memoryLimiters);
    this.#failOpen = options.failOpen;
  }

  async add(key: string, windowMs: number, points = 1): Promise<WindowCount> {
    try {
      return await this.#link.run(() => this.#shared.add(key, windowMs, points));
    } catch (error) {
      if (!this.#failOpen) throw error;
      const added = await this.#local.add(key, windowMs, points);
      this.#countedLocally.add(added);
      return added;
    }
  }

  async refund(key: string, windowMs: number, added: WindowCount, points = 1): Promise<void> {
    if (this.#countedLocally.has(added)) return this.#local.refund(key, windowMs, added, points);
    try {
      await this.#link.run(() => this.#shared.refund(key, windowMs, added, points));
    } catch {
      // Counted by the link's health; the event stays counted until its window ends.
    }
  }
}
