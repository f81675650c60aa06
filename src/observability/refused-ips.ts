// Which client IPs are being refused, with bounded memory. An attack from a
// botnet brings an unbounded number of addresses; this table keeps at most
// `maxEntries` of them. When it is full, entries idle for longer than the
// retention go first, then the tenth with the fewest refusals (oldest first
// among equals), so the heavy hitters an administrator wants to see survive
// while one-off addresses churn. Eviction in batches keeps it amortised O(log n).
import type { DecisionEvent } from './decision-log.ts';

export interface RefusedIp {
  readonly ip: string;
  /** Refusals (reject + defer) since the address was first seen in this table. */
  readonly count: number;
  readonly rejected: number;
  readonly deferred: number;
  /** The most recent refusal: which rule, why, at which stage. */
  readonly rule: string;
  readonly reason: string;
  readonly stage: string;
  readonly verdict: 'reject' | 'defer';
  readonly firstAt: number;
  readonly lastAt: number;
}

type Entry = { -readonly [K in keyof RefusedIp]: RefusedIp[K] };

export interface RefusedIpsOptions {
  readonly maxEntries?: number;
  /** An address not refused for this long is forgotten (default one hour). */
  readonly retentionMs?: number;
}

export class RefusedIps {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #retentionMs: number;

  constructor(options: RefusedIpsOptions = {}) {
    this.#max = Math.max(10, options.maxEntries ?? 1000);
    this.#retentionMs = options.retentionMs ?? 3_600_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  record(event: DecisionEvent): void {
    const { decision } = event;
    if (decision.verdict !== 'reject' && decision.verdict !== 'defer') return;
    let entry = this.#entries.get(event.clientIp);
    if (!entry) {
      if (this.#entries.size >= this.#max) this.#evict(event.at);
      entry = {
        ip: event.clientIp, count: 0, rejected: 0, deferred: 0,
        rule: decision.rule, reason: decision.reason, stage: decision.stage, verdict: decision.verdict,
        firstAt: event.at, lastAt: event.at,
      };
      this.#entries.set(event.clientIp, entry);
    }
    entry.count += 1;
    if (decision.verdict === 'reject') entry.rejected += 1;
    else entry.deferred += 1;
    if (event.at >= entry.lastAt) {
      entry.rule = decision.rule;
      entry.reason = decision.reason;
      entry.stage = decision.stage;
      entry.verdict = decision.verdict;
      entry.lastAt = event.at;
    }
  }

  /** The `limit` most refused addresses still within the retention at `now`. */
  top(limit: number, now: number): RefusedIp[] {
    const since = now - this.#retentionMs;
    const live: RefusedIp[] = [];
    for (const entry of this.#entries.values()) if (entry.lastAt >= since) live.push({ ...entry });
    live.sort((a, b) => b.count - a.count || b.lastAt - a.lastAt || (a.ip < b.ip ? -1 : 1));
    return live.slice(0, Math.max(0, limit));
  }

  #evict(now: number): void {
    const since = now - this.#retentionMs;
    for (const [ip, entry] of this.#entries) if (entry.lastAt < since) this.#entries.delete(ip);
    if (this.#entries.size < this.#max) return;
    const weakest = [...this.#entries.values()].sort((a, b) => a.count - b.count || a.lastAt - b.lastAt);
    const drop = Math.max(1, Math.ceil(this.#max / 10));
    for (const entry of weakest.slice(0, drop)) this.#entries.delete(entry.ip);
  }
}
