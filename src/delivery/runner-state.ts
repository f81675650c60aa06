// The queue runner's bookkeeping, shared by its parts (queue-runner.ts wires
// them): which messages are loaded and running, the per-destination job
// queues, the ids parked behind a full queue, and the counts that decide
// when to read more from disk and when a stop has drained. Counts only: the
// parts that act on them are runner-picker.ts, runner-dispatch.ts,
// runner-outcome.ts and queue-commands.ts.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { LoadedMessage, Spool } from '../spool/spool.ts';
import type { RunnerEvents } from './runner-events.ts';
import type { Schedule } from './runner-schedule.ts';
import type { Destination } from './routing.ts';
import type { RecipientResult } from './smtp-reply.ts';

/** What every part of the runner works with. */
export interface RunnerContext {
  readonly state: RunnerState;
  readonly schedule: Schedule;
  readonly spool: Spool;
  readonly events: RunnerEvents;
  readonly logger: Logger;
  readonly now: () => number;
}

/** One loaded message: its jobs (one per destination) and the results that came back. */
export interface Run {
  readonly id: string;
  readonly msg: LoadedMessage;
  pendingJobs: number;
  activeJobs: number;
  readonly results: RecipientResult[];
  readonly done: Promise<void>;
  finish(): void;
}

/** The recipients of one run that go to one destination: one delivery attempt. */
export interface Job {
  readonly run: Run;
  readonly destination: Destination;
  readonly recipients: string[];
}

/** PURE. How many jobs a destination's queue holds before further messages for it are parked. */
export function queueCap(perDestinationConcurrency: number, maxLoaded: number): number {
  return Math.max(1, Math.min(Math.max(4 * perDestinationConcurrency, 32), Math.floor(maxLoaded / 4)));
}

/**
 * PURE. The one queue every message goes to when there is a single
 * destination (a smarthost, no routes), else undefined.
 */
export function singleQueueKey(delivery: Config['delivery']): string | undefined {
  return delivery.mode === 'smarthost' && delivery.routes.length === 0 ? 'smarthost' : undefined;
}

export class RunnerState {
  config: Config;
  /** Messages loaded from disk at once. */
  readonly maxLoaded: number;
  readonly runs = new Map<string, Run>();
  /** Per destination key: jobs waiting to start, in order; the map's order is the round-robin. */
  readonly queues = new Map<string, Job[]>();
  /** Per destination: ids waiting for room in that destination's queue (ids only, in order). */
  readonly parked = new Map<string, Set<string>>();
  /** Made due by `queue retry`: the journal's next attempt time is ignored once. */
  readonly forced = new Set<string>();
  /** Being held or expiring (runner-holds.ts): the picker sets these aside. */
  readonly holding = new Set<string>();
  readonly counters = { delivered: 0, deferred: 0, failed: 0, bounces: 0, refusedAfterAccept: 0, dsnSuppressed: 0 };
  /** Messages loaded (or being loaded) and not finished. */
  loaded = 0;
  /** Attempts in flight. */
  active = 0;
  /** Outcomes being recorded. */
  completing = 0;
  /** Loads from disk in flight. */
  loading = 0;
  stopping = false;
  readonly #idle: Array<() => void> = [];

  constructor(config: Config, maxLoaded: number) {
    this.config = config;
    this.maxLoaded = maxLoaded;
  }

  queueCap(): number {
    return queueCap(this.config.delivery.per_destination_concurrency, this.maxLoaded);
  }

  queued(key: string): number {
    return this.queues.get(key)?.length ?? 0;
  }

  parkedCount(): number {
    let waiting = 0;
    for (const ids of this.parked.values()) waiting += ids.size;
    return waiting;
  }

  /** Resolves once no attempt is in flight and no outcome is being recorded. */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.active === 0 && this.completing === 0) resolve();
      else this.#idle.push(resolve);
    });
  }

  /** Wakes drained() waiters when nothing is running any more. */
  idleCheck(): void {
    if (this.active === 0 && this.completing === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
