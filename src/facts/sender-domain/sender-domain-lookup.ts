// Can the MAIL FROM domain receive mail (and so a bounce)? Postfix's
// reject_unknown_sender_domain, with the configured resolver:
//   MX records             -> ok; a single MX "." (RFC 7505 null MX) -> null_mx
//   NXDOMAIN               -> nxdomain
//   no MX (NODATA)         -> its A/AAAA records decide (implicit MX, RFC 5321 5.1):
//                             some -> ok; none -> nxdomain (nowhere to deliver)
//   timeout, SERVFAIL, ... -> temp_fail
// The whole check is bounded by a timeout (temp_fail past it). Answers are
// cached for cache_ttl; failures never are, the next client asks again.
// Concurrent checks of one domain share one lookup (a spam run from many
// clients with one forged domain costs one query).
import { LRUCache } from 'lru-cache';
import { lookupAddresses, lookupMx, type MxLookupDns } from '../../net/mx-lookup.ts';
import type { SenderDomainFacts } from '../../policy/facts.ts';

export type SenderDomainStatus = SenderDomainFacts['status'];

/** The slice of node:dns/promises Resolver this check needs. */
export type SenderDomainDns = MxLookupDns;

export interface SenderDomainSettings {
  readonly timeout: number;
  readonly cacheTtl: number;
}

export interface SenderDomainResult {
  readonly status: SenderDomainStatus;
  /** hit: from the cache; miss: this call asked; shared: joined a lookup in flight. */
  readonly source: 'hit' | 'miss' | 'shared';
}

type Answer = Exclude<SenderDomainStatus, 'temp_fail'>;

export class SenderDomainLookup {
  readonly #dns: SenderDomainDns;
  readonly #cache: LRUCache<string, Answer>;
  readonly #inflight = new Map<string, Promise<SenderDomainStatus>>();

  constructor(dns: SenderDomainDns, options: { maxEntries?: number; now?: () => number } = {}) {
    this.#dns = dns;
    // ttlResolution 0: read the clock on every get, so an injected clock is exact.
    this.#cache = new LRUCache<string, Answer>({ max: options.maxEntries ?? 10_000, ttlResolution: 0, ...(options.now ? { perf: { now: options.now } } : {}) });
  }

  /** The cached answer for `domain`, if any (what check() would answer as a hit), without a promise. */
  cached(domain: string): SenderDomainStatus | undefined {
    return this.#cache.get(domain);
  }

  /** Never rejects: a failure is the status temp_fail. `domain` is already normalised (lower case, ASCII). */
  async check(domain: string, settings: SenderDomainSettings): Promise<SenderDomainResult> {
    const cached = this.#cache.get(domain);
    if (cached !== undefined) return { status: cached, source: 'hit' };
    const pending = this.#inflight.get(domain);
    if (pending) return { status: await withTimeout(pending, settings.timeout), source: 'shared' };
    const lookup = this.#resolve(domain)
      .then((status) => {
        if (status !== 'temp_fail' && settings.cacheTtl > 0) this.#cache.set(domain, status, { ttl: settings.cacheTtl });
        return status;
      })
      .finally(() => this.#inflight.delete(domain));
    this.#inflight.set(domain, lookup);
    return { status: await withTimeout(lookup, settings.timeout), source: 'miss' };
  }

  clear(): void {
    this.#cache.clear();
  }

  async #resolve(domain: string): Promise<SenderDomainStatus> {
    const mx = await lookupMx(this.#dns, domain);
    if (mx.kind === 'exchanges') return 'ok';
    if (mx.kind === 'null_mx' || mx.kind === 'nxdomain') return mx.kind;
    if (mx.kind === 'failed') return 'temp_fail';
    const addresses = await lookupAddresses(this.#dns, domain);
    return addresses.kind === 'addresses' ? 'ok' : addresses.kind === 'failed' ? 'temp_fail' : 'nxdomain';
  }
}

function withTimeout(lookup: Promise<SenderDomainStatus>, ms: number): Promise<SenderDomainStatus> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<SenderDomainStatus>((resolve) => {
    timer = setTimeout(() => resolve('temp_fail'), ms);
    timer.unref();
  });
  return Promise.race([lookup, late]).finally(() => clearTimeout(timer));
}
