// Live recipient verification: what the next hop says about an address,
// asked at most once at a time and remembered (Postfix's verify(8) daemon).
//   - answers are cached per (next hop, address): a 2xx for positive_ttl, a
//     5xx for negative_ttl, in one TTL-aware LRU bounded in entries; 4xx and
//     failures are never cached (the next RCPT asks again);
//   - an answer older than its refresh time is still used, and a new probe
//     starts in the background (Postfix's *_refresh_time): a backend that is
//     down for a while does not turn every known user into a 4xx;
//   - concurrent checks of one address share one probe (single-flight);
//   - the client waits at most `timeout`: then it gets "unavailable" (4xx at
//     RCPT) while the probe goes on and caches what it finally learns.
import { LRUCache } from 'lru-cache';
import type { RecipientProbeFacts } from '../../policy/facts.ts';
import { HopPool, type NextHop, type PoolSettings, type ProbeAnswer } from './hop-pool.ts';

export interface VerifySettings extends PoolSettings {
  readonly timeout: number;
  readonly positiveTtl: number;
  readonly positiveRefresh: number;
  readonly negativeTtl: number;
  readonly negativeRefresh: number;
}

interface Cached {
  readonly kind: 'accepted' | 'refused';
  readonly reply: string;
  readonly at: number;
}

export interface VerifierStats {
  /** Probes sent to a next hop (each one RCPT there). */
  probes: number;
  /** Answers served from the cache. */
  hits: number;
  /** Checks that joined a probe already in flight. */
  shared: number;
  accepted: number;
  refused: number;
  temporary: number;
  /** Clients answered "unavailable" because the time budget ran out. */
  timedOut: number;
}

export class RecipientVerifier {
  /**
   * Created at the first answer to remember: lru-cache preallocates its
   * arrays for `max` entries (~3.3 MiB for the default 100,000), which a relay
   * with verification off (the default) would carry for nothing.
   */
  #cache: LRUCache<string, Cached> | undefined;
  readonly #maxEntries: number;
  readonly #clock: { now: () => number } | undefined;
  readonly #inflight = new Map<string, Promise<ProbeAnswer>>();
  readonly #pools = new Map<string, HopPool>();
  readonly #now: () => number;
  readonly stats: VerifierStats = { probes: 0, hits: 0, shared: 0, accepted: 0, refused: 0, temporary: 0, timedOut: 0 };

  constructor(options: { maxEntries: number; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries;
    this.#clock = options.now ? { now: options.now } : undefined;
  }

  #lru(): LRUCache<string, Cached> {
    // ttlResolution 0: read the clock on every get, so an injected clock is exact.
    this.#cache ??= new LRUCache<string, Cached>({ max: this.#maxEntries, ttlResolution: 0, ...(this.#clock ? { perf: this.#clock } : {}) });
    return this.#cache;
  }

  get cached(): number {
    return this.#cache?.size ?? 0;
  }

  /** The cached answer, without asking anyone (explain's report, bounce decisions). */
  peek(hop: NextHop, address: string): 'accepted' | 'refused' | undefined {
    return this.#cache?.get(cacheKey(hop, address))?.kind;
  }

  /** Never rejects. `address` is the recipient as it will be queued. */
  async verify(hop: NextHop, address: string, settings: VerifySettings): Promise<RecipientProbeFacts> {
    const key = cacheKey(hop, address);
    const cached = this.#cache?.get(key);
    if (cached !== undefined) {
      this.stats.hits++;
      const refresh = cached.kind === 'accepted' ? settings.positiveRefresh : settings.negativeRefresh;
      if (this.#now() - cached.at >= refresh && !this.#inflight.has(key)) void this.#probe(key, hop, address, settings);
      return { outcome: cached.kind, hop: hop.label, source: 'cache', reply: cached.reply };
    }
    let source: RecipientProbeFacts['source'] = 'shared';
    let pending = this.#inflight.get(key);
    if (pending) this.stats.shared++;
    else {
      source = 'probe';
      pending = this.#probe(key, hop, address, settings);
    }
    const answer = await withBudget(pending, settings.timeout);
    if (answer === undefined) {
      this.stats.timedOut++;
      return { outcome: 'unavailable', timedOut: true, hop: hop.label, source, reply: `no answer within ${settings.timeout} ms` };
    }
    return { outcome: answer.kind === 'temporary' ? 'unavailable' : answer.kind, hop: hop.label, source, reply: answer.reply };
  }

  /** Stores an answer as a probe would have (bench/recipient-verify.ts measures the cache's memory with it). */
  remember(hop: NextHop, address: string, kind: Cached['kind'], reply: string, ttl: number): void {
    this.#lru().set(cacheKey(hop, address), { kind, reply, at: this.#now() }, { ttl });
  }

  /** Forgets every cached answer (tests, the bench). */
  clear(): void {
    this.#cache?.clear();
  }

  pool(hop: NextHop): HopPool | undefined {
    return this.#pools.get(hop.key);
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }

  #probe(key: string, hop: NextHop, address: string, settings: VerifySettings): Promise<ProbeAnswer> {
    let pool = this.#pools.get(hop.key);
    if (pool) pool.update(settings);
    else {
      pool = new HopPool(hop, settings);
      this.#pools.set(hop.key, pool);
    }
    this.stats.probes++;
    const probe = pool
      .probe(address)
      .then((answer) => {
        this.stats[answer.kind]++;
        if (answer.kind !== 'temporary') {
          const ttl = answer.kind === 'accepted' ? settings.positiveTtl : settings.negativeTtl;
          if (ttl > 0) this.#lru().set(key, { kind: answer.kind, reply: answer.reply, at: this.#now() }, { ttl });
        }
        return answer;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, probe);
    return probe;
  }
}

function cacheKey(hop: NextHop, address: string): string {
  return `${hop.key}\u0000${address}`;
}

/** The answer, or undefined when the budget ran out first. */
function withBudget(probe: Promise<ProbeAnswer>, ms: number): Promise<ProbeAnswer | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([probe, late]).finally(() => clearTimeout(timer));
}
