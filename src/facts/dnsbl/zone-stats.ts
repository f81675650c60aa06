// Per-zone counters for metrics and the dashboard. Counters only grow (they
// map onto Prometheus counters); the dashboard derives rates from them.
// "lookups" counts every check that asked the zone, cache hits included;
// "queries" counts DNS queries actually sent; errors, timeouts, zone problems
// and latency are about queries, "listed" is about lookups.

/** Upper bounds (ms) of the latency buckets; the last bucket is +Inf. */
export const LATENCY_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

export interface ZoneCountersSnapshot {
  readonly lookups: number;
  readonly queries: number;
  readonly listed: number;
  /** Queries with no usable answer (timeouts included). */
  readonly errors: number;
  readonly timeouts: number;
  /** Answers in 127.255.255.0/24 or outside 127.0.0.0/8. */
  readonly zoneProblems: number;
  /** Lookups not made because the zone was suspended. */
  readonly suspendedSkips: number;
  readonly probes: number;
  readonly probeFailures: number;
  /** listed / lookups (0 before any lookup). */
  readonly hitRate: number;
  readonly latency: {
    readonly count: number;
    readonly totalMs: number;
    readonly maxMs: number;
    readonly avgMs: number;
    /** Cumulative counts per LATENCY_BUCKETS_MS bound, then +Inf (Prometheus style). */
    readonly buckets: readonly number[];
  };
}

export class ZoneCounters {
  lookups = 0;
  queries = 0;
  listed = 0;
  errors = 0;
  timeouts = 0;
  zoneProblems = 0;
  suspendedSkips = 0;
  probes = 0;
  probeFailures = 0;
  #latencyCount = 0;
  #latencyTotal = 0;
  #latencyMax = 0;
  readonly #buckets = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);

  observeLatency(ms: number): void {
    this.#latencyCount++;
    this.#latencyTotal += ms;
    if (ms > this.#latencyMax) this.#latencyMax = ms;
    const index = LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
    const slot = index === -1 ? LATENCY_BUCKETS_MS.length : index;
    this.#buckets[slot] = (this.#buckets[slot] as number) + 1;
  }

  snapshot(): ZoneCountersSnapshot {
    let running = 0;
    const buckets = this.#buckets.map((count) => (running += count));
    return {
      lookups: this.lookups,
      queries: this.queries,
      listed: this.listed,
      errors: this.errors,
      timeouts: this.timeouts,
      zoneProblems: this.zoneProblems,
      suspendedSkips: this.suspendedSkips,
      probes: this.probes,
      probeFailures: this.probeFailures,
      hitRate: this.lookups === 0 ? 0 : this.listed / this.lookups,
      latency: {
        count: this.#latencyCount,
        totalMs: this.#latencyTotal,
        maxMs: this.#latencyMax,
        avgMs: this.#latencyCount === 0 ? 0 : this.#latencyTotal / this.#latencyCount,
        buckets,
      },
    };
  }
}
