// Whether the shared store is usable, as one small state machine, and the
// only place that logs about it: ONE loud line when an outage starts, one when
// it ends, however many commands fail in between (each failure is counted for
// /metrics instead). States:
//   connecting  before the first successful connection (operations skipped)
//   up          operations go to Redis
//   down        an outage: operations are skipped at once (no waiting on a
//               dead or hung server); the link's probe or a reconnect ends it
// A reply error (Redis answered, e.g. NOPERM or OOM) fails that operation but
// is not an outage: it is logged at most once a minute, since marking the
// link down and up again on every command would flap.
import type { Logger } from '../log/logger.ts';

export type RedisState = 'connecting' | 'up' | 'down';

/** What the dashboard, /api/status and /metrics show about the shared store. */
export interface RedisStatus {
  /** Where (never with a password). */
  readonly address: string;
  readonly state: RedisState;
  readonly up: boolean;
  /** Epoch ms of the last state change. */
  readonly since: number;
  /** Outages since start (each logged once). */
  readonly outages: number;
  /** Operations that failed (timeout, connection, error reply). */
  readonly failedOperations: number;
  /** Operations not even tried because the link was down. */
  readonly skippedOperations: number;
  /** The last failure, as text (no secrets: Redis errors carry none). */
  readonly lastError: string | null;
  /** true: fall back to in-process counters; false: refuse limited commands with 4xx. */
  readonly failOpen: boolean;
}

export interface RedisHealthOptions {
  readonly address: string;
  readonly failOpen: boolean;
  readonly logger: Logger;
  readonly now?: () => number;
}

const REPLY_ERROR_LOG_INTERVAL_MS = 60_000;

export class RedisHealth {
  readonly #options: RedisHealthOptions;
  readonly #now: () => number;
  #state: RedisState = 'connecting';
  #since: number;
  #outages = 0;
  #failed = 0;
  #skipped = 0;
  #failedAtOutageStart = 0;
  #skippedAtOutageStart = 0;
  #lastError: string | null = null;
  #lastReplyErrorLog = Number.NEGATIVE_INFINITY;

  constructor(options: RedisHealthOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
  }

  get state(): RedisState {
    return this.#state;
  }

  /** Operations may go to Redis. */
  get usable(): boolean {
    return this.#state === 'up';
  }

  /** A connection became ready or a probe answered. */
  markUp(): void {
    if (this.#state === 'up') return;
    const previous = this.#state;
    const downMs = this.#now() - this.#since;
    this.#state = 'up';
    this.#since = this.#now();
    if (previous === 'down') {
      this.#options.logger.warn(
        {
          event: 'cluster.redis.up', redis: this.#options.address, down_ms: downMs,
          failed: this.#failed - this.#failedAtOutageStart, skipped: this.#skipped - this.#skippedAtOutageStart,
        },
        `Redis reachable again after ${Math.round(downMs / 1000)}s: counters are shared again`,
      );
    } else {
      this.#options.logger.info({ event: 'cluster.redis.connected', redis: this.#options.address }, 'Redis connected: counters are shared');
    }
  }

  /** The connection is gone, or never came (startup gave up waiting). */
  markDown(cause: unknown): void {
    this.#lastError = describe(cause);
    if (this.#state === 'down') return;
    this.#state = 'down';
    this.#since = this.#now();
    this.#outages++;
    this.#failedAtOutageStart = this.#failed;
    this.#skippedAtOutageStart = this.#skipped;
    const fallback = this.#options.failOpen
      ? 'each instance counts on its own until it returns (limits hold per instance)'
      : 'rate-limited commands and AUTH are refused with 4xx until it returns (fail_open = false)';
    this.#options.logger.error(
      { event: 'cluster.redis.down', redis: this.#options.address, error: this.#lastError, fail_open: this.#options.failOpen },
      `Redis unreachable: ${fallback}`,
    );
  }

  /** An operation failed; `outage` false for an error reply from a live server. */
  operationFailed(cause: unknown, outage: boolean): void {
    this.#failed++;
    if (outage) {
      this.markDown(cause);
      return;
    }
    this.#lastError = describe(cause);
    const now = this.#now();
    if (now - this.#lastReplyErrorLog >= REPLY_ERROR_LOG_INTERVAL_MS) {
      this.#lastReplyErrorLog = now;
      this.#options.logger.error(
        { event: 'cluster.redis.error', redis: this.#options.address, error: this.#lastError, failed: this.#failed },
        'Redis answered an error; the operation fell back (logged at most once a minute)',
      );
    }
  }

  /** An operation was not tried because the link is not up. */
  skipped(): void {
    this.#skipped++;
  }

  status(): RedisStatus {
    return {
      address: this.#options.address,
      state: this.#state,
      up: this.#state === 'up',
      since: this.#since,
      outages: this.#outages,
      failedOperations: this.#failed,
      skippedOperations: this.#skipped,
      lastError: this.#lastError,
      failOpen: this.#options.failOpen,
    };
  }
}

function describe(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.slice(0, 200);
}
