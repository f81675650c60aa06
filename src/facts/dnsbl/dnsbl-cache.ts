// DNSBL answers cached by query name, with single-flight: concurrent lookups
// of one name share one DNS query (postscreen does the same). Positive answers
// live for their TTL, negative ones (NXDOMAIN, NODATA) for the configured
// negative TTL; both are clamped to [min_ttl, max_ttl]. Failures (timeout,
// SERVFAIL) are never cached: the next client asks again, and the zone's
// circuit breaker decides when asking is pointless. Bounded by max_entries (LRU).
import { LRUCache } from 'lru-cache';
import { classifyDnsError, type DnsFailureKind } from '../dns-resolver.ts';
import type { DnsblCacheSettings } from './dnsbl-file.ts';

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
  readonly misses: number;
  readonly shared: number;
  /** Lookups answered without sending a query (hits + shared) / all lookups; 0 before any. */
  readonly hitRatio: number;
}

type Entry = AResult | TxtResult;
interface Loaded<T> {
  readonly result: T;
  /** Milliseconds to keep it; 0 = do not cache. */
  readonly ttl: number;
}

export class DnsblCache {
  readonly #settings: DnsblCacheSettings;
  readonly #resolver: DnsblResolver;
  readonly #lru: LRUCache<string, Entry>;
  readonly #inflight = new Map<string, Promise<Entry>>();
  #hits = 0;
  #misses = 0;
  #shared = 0;

  constructor(settings: DnsblCacheSettings, resolver: DnsblResolver, now: () => number = () => performance.now()) {
    this.#settings = settings;
    this.#resolver = resolver;
    // ttlResolution 0: read the clock on every get, so an injected clock is exact.
    this.#lru = new LRUCache<string, Entry>({ max: settings.maxEntries, perf: { now }, ttlResolution: 0 });
  }

  get settings(): DnsblCacheSettings {
    return this.#settings;
  }

  #clamp(ms: number): number {
    return Math.min(this.#settings.maxTtl, Math.max(this.#settings.minTtl, ms));
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
      return { result: await pending, status: 'shared' };
    }
    this.#misses++;
    const query = load()
      .then((loaded) => {
        if (loaded.ttl > 0) this.#lru.set(key, loaded.result, { ttl: loaded.ttl });
        return loaded.result;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, query);
    return { result: await query, status: 'miss' };
  }

  stats(): DnsblCacheStats {
    const total = this.#hits + this.#misses + this.#shared;
    return {
      size: this.#lru.size,
      hits: this.#hits,
      misses: this.#misses,
      shared: this.#shared,
      hitRatio: total === 0 ? 0 : (this.#hits + this.#shared) / total,
    };
  }

  clear(): void {
    this.#lru.clear();
  }
}
