// Traffic as an administrator reads it during an incident: totals since
// start, the current minute, and one bucket per minute for the last hour,
// fed by the DecisionLog and the DeliveryLog. Memory is bounded: a fixed ring
// of minute buckets, a capped set of (verdict, rule, reason) keys per bucket,
// a capped table of refused IPs and a short list of the latest refusals.
// Time is injected; events are bucketed by their own `at`.
//
// What counts as what (front door decisions are per stage):
//   accepted  a message queued (a `permit` at the data stage)
//   rejected  any `reject` (5xx to the client), at any stage
//   deferred  any `defer` (4xx to the client: try later), at any stage
//   delivered / bounced / deliveryDeferred   one per recipient, from delivery
import type { DecisionEvent, DecisionLog } from './decision-log.ts';
import type { DeliveryEvent, DeliveryLog } from './delivery-log.ts';
import { RefusedIps, type RefusedIp } from './refused-ips.ts';

export const COUNT_KEYS = ['accepted', 'rejected', 'deferred', 'delivered', 'bounced', 'deliveryDeferred'] as const;
export type CountKey = (typeof COUNT_KEYS)[number];
export type TrafficCounts = Record<CountKey, number>;

export interface RefusalCount {
  readonly verdict: 'reject' | 'defer';
  readonly rule: string;
  readonly reason: string;
  readonly count: number;
}

export interface RecentRefusal {
  readonly at: number;
  readonly clientIp: string;
  readonly stage: string;
  readonly verdict: 'reject' | 'defer';
  readonly rule: string;
  readonly reason: string;
  readonly code?: number;
  readonly sender?: string;
  readonly recipient?: string;
  /** "policy service" when a Postfix policy request was refused (absent: the SMTP front door). */
  readonly source?: string;
}

export interface TrafficSnapshot {
  readonly now: number;
  readonly stepMs: number;
  readonly totals: TrafficCounts;
  readonly lastHour: TrafficCounts;
  readonly currentMinute: TrafficCounts;
  /** Start of each minute bucket, oldest first; the last one is the current minute. */
  readonly minutes: readonly number[];
  readonly series: Readonly<Record<CountKey, readonly number[]>>;
  /** Refusals (reject + defer) per rule and minute, aligned with `minutes`. */
  readonly refusedByRule: Readonly<Record<string, readonly number[]>>;
  /** Refusals in the window per (verdict, rule, reason), most frequent first. */
  readonly refusals: readonly RefusalCount[];
  readonly topRefused: readonly RefusedIp[];
  readonly recentRefusals: readonly RecentRefusal[];
}

export interface TrafficStatsOptions {
  readonly now: () => number;
  readonly windowMinutes?: number;
  readonly maxRefusedIps?: number;
  readonly topRefusedLimit?: number;
  readonly recentLimit?: number;
}

const STEP_MS = 60_000;
/** (verdict, rule, reason) keys kept per bucket; rules come from the policy, this only guards against bugs. */
const MAX_KEYS = 64;
const OTHER = 'other';

interface Bucket {
  minute: number;
  counts: TrafficCounts;
  refusals: Map<string, number>;
}

const zero = (): TrafficCounts => ({ accepted: 0, rejected: 0, deferred: 0, delivered: 0, bounced: 0, deliveryDeferred: 0 });

function addKey(map: Map<string, number>, verdict: string, rule: string, reason: string): void {
  const key = `${verdict}\t${rule}\t${reason}`;
  const k = map.has(key) || map.size < MAX_KEYS ? key : `${verdict}\t${OTHER}\t${OTHER}`;
  map.set(k, (map.get(k) ?? 0) + 1);
}

export class TrafficStats {
  readonly #now: () => number;
  readonly #window: number;
  readonly #buckets: Bucket[];
  readonly #totals = zero();
  readonly #ips: RefusedIps;
  readonly #topLimit: number;
  readonly #recentLimit: number;
  readonly #recent: RecentRefusal[] = [];

  constructor(options: TrafficStatsOptions) {
    this.#now = options.now;
    this.#window = Math.max(2, options.windowMinutes ?? 60);
    this.#buckets = Array.from({ length: this.#window }, () => ({ minute: -1, counts: zero(), refusals: new Map() }));
    this.#ips = new RefusedIps({ maxEntries: options.maxRefusedIps ?? 1000, retentionMs: this.#window * STEP_MS });
    this.#topLimit = options.topRefusedLimit ?? 20;
    this.#recentLimit = options.recentLimit ?? 25;
  }

  /** Subscribes to both logs; returns the function that unsubscribes. */
  attach(decisions: DecisionLog, deliveries?: DeliveryLog): () => void {
    const offDecisions = decisions.subscribe((event) => this.recordDecision(event));
    const offDeliveries = deliveries?.subscribe((event) => this.recordDelivery(event));
    return () => {
      offDecisions();
      offDeliveries?.();
    };
  }

  recordDecision(event: DecisionEvent): void {
    const { verdict, stage, rule, reason } = event.decision;
    if (verdict === 'permit' && stage === 'data') {
      this.#count(event.at, 'accepted');
    } else if (verdict === 'reject' || verdict === 'defer') {
      const bucket = this.#count(event.at, verdict === 'reject' ? 'rejected' : 'deferred');
      if (bucket) addKey(bucket.refusals, verdict, rule, reason);
      this.#ips.record(event);
      this.#recent.unshift({
        at: event.at, clientIp: event.clientIp, stage, verdict, rule, reason,
        ...(event.decision.reply ? { code: event.decision.reply.code } : {}),
        ...(event.sender !== undefined ? { sender: event.sender } : {}),
        ...(event.recipient !== undefined ? { recipient: event.recipient } : {}),
        ...(event.source !== undefined ? { source: event.source } : {}),
      });
      if (this.#recent.length > this.#recentLimit) this.#recent.length = this.#recentLimit;
    }
  }

  recordDelivery(event: DeliveryEvent): void {
    this.#count(event.at, event.result === 'deferred' ? 'deliveryDeferred' : event.result);
  }

  snapshot(): TrafficSnapshot {
    const now = this.#now();
    const nowMinute = Math.floor(now / STEP_MS);
    const minutes: number[] = [];
    const series = Object.fromEntries(COUNT_KEYS.map((k) => [k, [] as number[]])) as Record<CountKey, number[]>;
    const lastHour = zero();
    const refusalTotals = new Map<string, number>();
    const live: Array<Bucket | undefined> = [];
    for (let m = nowMinute - this.#window + 1; m <= nowMinute; m++) {
      const bucket = this.#bucketFor(m, false);
      live.push(bucket);
      minutes.push(m * STEP_MS);
      for (const key of COUNT_KEYS) {
        const value = bucket?.counts[key] ?? 0;
        series[key].push(value);
        lastHour[key] += value;
      }
      for (const [key, n] of bucket?.refusals ?? []) refusalTotals.set(key, (refusalTotals.get(key) ?? 0) + n);
    }
    const refusals = [...refusalTotals].map(([key, count]) => {
      const [verdict, rule, reason] = key.split('\t') as ['reject' | 'defer', string, string];
      return { verdict, rule, reason, count };
    });
    refusals.sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule));
    const refusedByRule: Record<string, number[]> = {};
    for (const { rule } of refusals) refusedByRule[rule] ??= live.map(() => 0);
    live.forEach((bucket, i) => {
      for (const [key, n] of bucket?.refusals ?? []) {
        const row = refusedByRule[key.split('\t')[1] as string] as number[];
        row[i] = (row[i] ?? 0) + n;
      }
    });
    const current = this.#bucketFor(nowMinute, false);
    return {
      now,
      stepMs: STEP_MS,
      totals: { ...this.#totals },
      lastHour,
      currentMinute: current ? { ...current.counts } : zero(),
      minutes,
      series,
      refusedByRule,
      refusals,
      topRefused: this.#ips.top(this.#topLimit, now),
      recentRefusals: [...this.#recent],
    };
  }

  #count(at: number, key: CountKey): Bucket | undefined {
    this.#totals[key] += 1;
    // An event stamped a little ahead of our clock belongs to the current minute.
    const minute = Math.min(Math.floor(at / STEP_MS), Math.floor(this.#now() / STEP_MS));
    const bucket = this.#bucketFor(minute, true);
    if (bucket) bucket.counts[key] += 1;
    return bucket;
  }

  /** The bucket of `minute` if it is inside the window; with `create`, recycles the ring slot. */
  #bucketFor(minute: number, create: boolean): Bucket | undefined {
    const nowMinute = Math.floor(this.#now() / STEP_MS);
    if (minute <= nowMinute - this.#window || minute > nowMinute) return undefined;
    const slot = this.#buckets[minute % this.#window] as Bucket;
    if (slot.minute === minute) return slot;
    if (!create) return undefined;
    slot.minute = minute;
    slot.counts = zero();
    slot.refusals = new Map();
    return slot;
  }
}
