// DNSBL answers cached by query name, with single-flight: concurrent lookups
// of one name share one DNS query (postscreen does the same). Positive answers
// live for their TTL, negative ones (NXDOMAIN, NODATA) for the configured
// negative TTL; both are clamped to [min_ttl, max_ttl]. Failures (timeout,
// SERVFAIL) are never cached: the next client asks again, and the zone's
// circuit breaker decides when asking is pointless. Bounded by max_entries (LRU).
// An optional second level (shared by several instances, e.g. on Redis) is
// asked on a local miss before DNS, and told every answer worth caching with
// its remaining lifetime; it must never reject and must answer within a
// bounded time (src/cluster/redis-dnsbl-cache.ts).
import { LRUCache } from 'lru-cache';
import { classifyDnsError, type DnsFailureKind } from '../../net/dns-resolver.ts';
import type { DnsblCacheSettings } from '../../config/dnsbl-file.ts';

/** The slice of node:dns/promises Resolver a DNSBL needs (tests may pass the real one only). */
export interface DnsblResolver {
  resolve4(hostname: string, options: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>;
  resolveTxt(hostname: string): Promise<string[][]>;
}

export type AResult =
  | { readonly type: 'answers'; readonly addresses: readonly string[]; readonly ttl: number }
  | { readonly type: 'none'; readonly why: 'nxdomain' | 'nodata' }
  | { readonly type: 'failed'; readonly why: DnsFailureKind };

export type TxtResult = { readonly type: 'text'; readonly texts: readonly string[] } | { readonly type: 'none' };

/** hit: from the cache; miss: this call sent the query; shared: joined a query in flight. */
export type CacheStatus = 'hit' | 'miss' | 'shared';

export interface Lookup<T> {
  readonly result: T;
  readonly status: CacheStatus;
}

export interface DnsblCacheStats {
  readonly size: number;
  readonly hits: number;
  /** Lookups that sent a DNS query. */
  readonly misses: number;
  readonly shared: number;
  /** Local misses answered by the second level (another instance asked DNS). */
  readonly secondLevelHits: number;
  /** Lookups answered without sending a query (hits + shared + second level) / all lookups; 0 before any. */
  readonly hitRatio: number;
}

type Entry = AResult | TxtResult;
interface Loaded<T> {
  readonly result: T;
  /** Milliseconds to keep it; 0 = do not cache. */
  readonly ttl: number;
}

/** A cache behind this one, shared with other instances. Never rejects. */
export interface SecondLevelCache {
  /** The entry and its remaining lifetime in ms, or undefined (absent, or the store unreachable). */
  get(key: string): Promise<{ readonly value: unknown; readonly ttlMs: number } | undefined>;
  /** Stores the entry for `ttlMs`; fire and forget. */
  set(key: string, value: unknown, ttlMs: number): void;
}

/** What a second level hands back is checked: it is shared, so not trusted blindly. */
function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const strings = (list: unknown): boolean => Array.isArray(list) && list.every((item) => typeof item === 'string');
  if (v.type === 'answers') return strings(v.addresses) && typeof v.ttl === 'number';
  if (v.type === 'none') return v.why === undefined || v.why === 'nxdomain' || v.why === 'nodata';
  if (v.type === 'text') return strings(v.texts);
  return false; // failures are never cached, so never shared
}

export class DnsblCache {
  readonly #settings: DnsblCacheSettings;
  readonly #resolver: DnsblResolver;
  readonly #lru: LRUCache<string, Entry>;
  readonly #inflight = new Map<string, Promise<{ result: Entry; queried: boolean }>>();
  #hits = 0;
  #misses = 0;
  #shared = 0;
  #secondLevelHits = 0;
  readonly #second: SecondLevelCache | undefined;

  constructor(settings: DnsblCacheSettings, resolver: DnsblResolver, now: () => number = () => performance.now(), second?: SecondLevelCache) {
    this.#settings = settings;
    this.#resolver = resolver;
    this.#second = second;
    // ttlResolution 0: read the clock on every get, so an injected clock is exact.
    this.#lru = new LRUCache<string, Entry>({ max: settings.maxEntries, perf: { now }, ttlResolution: 0 });
  }

  get settings(): DnsblCacheSettings {
    return this.#settings;
  }

  #clamp(ms: number): number {
    return Math.min(this.#settings.maxTtl, Math.max(this.#settings.minTtl, ms));
  }

  /**
   * The cached A answer of `name`, counted as a hit, without a promise; on
   * undefined the caller asks lookupA (which counts what it does then).
   */
  cachedA(name: string): AResult | undefined {
    const cached = this.#lru.get(`A ${name}`) as AResult | undefined;
    if (cached !== undefined) this.#hits++;
    return cached;
  }

  /** The A records of `name`. Never rejects: failures are values. */
  lookupA(name: string): Promise<Lookup<AResult>> {
    return this.#get(`A ${name}`, async (): Promise<Loaded<AResult>> => {
      try {
        const records = await this.#resolver.resolve4(name, { ttl: true });
        if (records.length === 0) return { result: { type: 'none', why: 'nodata' }, ttl: this.#clamp(this.#settings.negativeTtl) };
        const ttl = Math.min(...records.map((record) => record.ttl)) * 1000;
        return { result: { type: 'answers', addresses: records.map((record) => record.address), ttl }, ttl: this.#clamp(ttl) };
      } catch (error) {
        const why = classifyDnsError(error);
        if (why === 'nxdomain' || why === 'nodata') return { result: { type: 'none', why }, ttl: this.#clamp(this.#settings.negativeTtl) };
        return { result: { type: 'failed', why }, ttl: 0 };
      }
    }) as Promise<Lookup<AResult>>;
  }

  /** The TXT strings of `name` (each record's chunks joined); kept for `ttl` ms (clamped). */
  lookupTxt(name: string, ttl: number): Promise<Lookup<TxtResult>> {
    return this.#get(`TXT ${name}`, async (): Promise<Loaded<TxtResult>> => {
      try {
        const records = await this.#resolver.resolveTxt(name);
        return { result: { type: 'text', texts: records.map((chunks) => chunks.join('')) }, ttl: this.#clamp(ttl) };
      } catch {
        // The text only decorates a reply; a missing one is not worth a retry storm.
        return { result: { type: 'none' }, ttl: this.#clamp(this.#settings.negativeTtl) };
      }
    }) as Promise<Lookup<TxtResult>>;
  }

  async #get(key: string, load: () => Promise<Loaded<Entry>>): Promise<Lookup<Entry>> {
    const cached = this.#lru.get(key);
    if (cached !== undefined) {
      this.#hits++;
      return { result: cached, status: 'hit' };
    }
    const pending = this.#inflight.get(key);
    if (pending) {
      this.#shared++;
      return { result: (await pending).result, status: 'shared' };
    }
    const query = this.#fill(key, load).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, query);
    const { result, queried } = await query;
    // A second-level answer sent no query: for the zone's counters it is a cache hit.
    return { result, status: queried ? 'miss' : 'hit' };
  }

  /** A local miss: the second level if any, else DNS (whose answer goes to both levels). */
  async #fill(key: string, load: () => Promise<Loaded<Entry>>): Promise<{ result: Entry; queried: boolean }> {
    const remote = await this.#second?.get(key);
    if (remote && remote.ttlMs > 0 && isEntry(remote.value)) {
      this.#secondLevelHits++;
      this.#lru.set(key, remote.value, { ttl: Math.min(remote.ttlMs, this.#settings.maxTtl) });
      return { result: remote.value, queried: false };
    }
    this.#misses++;
    const loaded = await load();
    if (loaded.ttl > 0) {
      this.#lru.set(key, loaded.result, { ttl: loaded.ttl });
      this.#second?.set(key, loaded.result, loaded.ttl);
    }
    return { result: loaded.result, queried: true };
  }

  stats(): DnsblCacheStats {
    const total = this.#hits + this.#misses + this.#shared + this.#secondLevelHits;
    return {
      size: this.#lru.size,
      hits: this.#hits,
      misses: this.#misses,
      shared: this.#shared,
      secondLevelHits: this.#secondLevelHits,
      hitRatio: total === 0 ? 0 : (this.#hits + this.#shared + this.#secondLevelHits) / total,
    };
  }

  clear(): void {
    this.#lru.clear();
  }
}
