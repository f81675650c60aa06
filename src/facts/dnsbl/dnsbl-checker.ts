// The DNSBL facts the front door needs. Contract:
//
//   const checker = new DnsblChecker({ policy, resolver, logger })
//   checker.startHealthChecks()             // once, at serve start (probes + breaker resumes)
//   // connect (after allowlist / relay-networks checks; skip trusted clients):
//   const check = checker.start(clientIp)   // lookups start now, nothing awaited
//   check.helo(name)                        // at HELO/EHLO: RHSBL lookups of the HELO name
//   check.sender(domain)                    // at MAIL FROM: RHSBL lookups of the sender domain
//   // RCPT, unless the client authenticated meanwhile:
//   evaluateDnsbl(await check.results(), checker.policy)
//
// Start as early as possible: the front door starts them in onConnect, which
// (since relay-smtp-server.ts dropped smtp-server's fixed 100 ms pause) runs
// right on the TCP accept; they then overlap the banner, EHLO and MAIL
// (bench/dnsbl.ts measures the placements). A listed client costs one round trip for
// the A records plus one for the TXT reply text, all zones in parallel.
// Trust is the caller's decision: clients in relay-networks or the allowlist
// and authenticated users are never passed in (or their check is simply never
// awaited; an unawaited check costs nothing more than its queries and never
// rejects). All zones are asked in parallel, through one cache with
// single-flight, so a client costs one round trip, not one per zone.
// checker.update(policy) on reload keeps the cache and each unchanged zone's
// health and counters. checker.stats() feeds metrics and the dashboard.
import type { Logger } from '../../log/logger.ts';
import type { DnsblFacts, ZoneResult } from '../../policy/dnsbl-rule.ts';
import { DnsblCache, type DnsblCacheStats, type DnsblResolver, type SecondLevelCache } from './dnsbl-cache.ts';
import type { DnsblPolicy, DnsblZone } from '../../config/dnsbl-file.ts';
import { buildQueryName, normalizeDomain, parseClientAddress } from './query-name.ts';
import type { ZoneHealthSnapshot } from './zone-health.ts';
import { ZoneRuntime, type QueryObserver, type Subject } from './zone-runtime.ts';
import type { ZoneCountersSnapshot } from './zone-stats.ts';

export interface DnsblCheckerOptions {
  readonly policy: DnsblPolicy;
  /** A node:dns/promises Resolver (see net/dns-resolver.ts). */
  readonly resolver: DnsblResolver;
  readonly logger: Logger;
  /** Wall clock in ms (cache TTLs, health timestamps). Default Date.now. */
  readonly now?: () => number;
  readonly onQuery?: QueryObserver;
  /** A cache shared with other instances behind the in-process one (cluster). */
  readonly secondLevelCache?: SecondLevelCache;
}

export interface ZoneStats extends ZoneCountersSnapshot {
  readonly name: string;
  readonly kind: DnsblZone['kind'];
  readonly weight: number;
  readonly health: ZoneHealthSnapshot;
}

export interface DnsblStats {
  readonly cache: DnsblCacheStats;
  readonly zones: readonly ZoneStats[];
}

export interface DomainTargets {
  readonly helo?: string;
  readonly senderDomain?: string;
}

// A zone keeps its breaker and counters across reloads while these stay the same.
const identity = (zone: DnsblZone): string => `${zone.name}\u0000${zone.zone}\u0000${zone.key ?? ''}\u0000${zone.kind}`;

export class DnsblChecker {
  #policy: DnsblPolicy;
  #cache: DnsblCache;
  #runtimes: ZoneRuntime[] = [];
  #probing = false;
  readonly #options: DnsblCheckerOptions;
  readonly #now: () => number;

  constructor(options: DnsblCheckerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#policy = options.policy;
    this.#cache = new DnsblCache(options.policy.cache, options.resolver, this.#now, options.secondLevelCache);
    this.#runtimes = this.#buildRuntimes(options.policy, []);
  }

  get policy(): DnsblPolicy {
    return this.#policy;
  }

  #buildRuntimes(policy: DnsblPolicy, previous: readonly ZoneRuntime[]): ZoneRuntime[] {
    const old = new Map(previous.map((runtime) => [identity(runtime.zone), runtime]));
    const deps = { logger: this.#options.logger, resolver: this.#options.resolver, now: this.#now, ...(this.#options.onQuery ? { onQuery: this.#options.onQuery } : {}) };
    return policy.zones.map((zone) => {
      const kept = old.get(identity(zone));
      if (kept && JSON.stringify(kept.healthSettings) === JSON.stringify(policy.health)) {
        kept.zone = zone;
        return kept;
      }
      return new ZoneRuntime(zone, policy.health, deps);
    });
  }

  /** Swaps in a reloaded policy. Checks already started keep the zones they started with. */
  update(policy: DnsblPolicy): void {
    const previous = this.#runtimes;
    this.#runtimes = this.#buildRuntimes(policy, previous);
    for (const runtime of previous) if (!this.#runtimes.includes(runtime)) runtime.stopProbing();
    if (JSON.stringify(policy.cache) !== JSON.stringify(this.#policy.cache)) {
      this.#cache = new DnsblCache(policy.cache, this.#options.resolver, this.#now, this.#options.secondLevelCache);
    }
    this.#policy = policy;
    if (this.#probing) this.startHealthChecks();
  }

  /** Begins the lookups for one client; see the header comment. */
  start(clientIp: string, targets: DomainTargets = {}): DnsblCheck {
    const check = new DnsblCheck(clientIp, this.#policy, [...this.#runtimes], this.#cache);
    if (targets.helo !== undefined) check.helo(targets.helo);
    if (targets.senderDomain !== undefined) check.sender(targets.senderDomain);
    return check;
  }

  /** start() and results() in one, for `relayguard explain` and tests. */
  check(clientIp: string, targets: DomainTargets = {}): Promise<DnsblFacts> {
    return this.start(clientIp, targets).results();
  }

  /** Probes every zone now (RFC 5782 test entries) and waits for the answers. */
  async probeAll(): Promise<void> {
    await Promise.all(this.#runtimes.map((runtime) => runtime.probe()));
  }

  /** Probes every zone now, then on the configured intervals, until close(). */
  startHealthChecks(): void {
    this.#probing = true;
    for (const runtime of this.#runtimes) {
      runtime.startProbing();
      void runtime.probe();
    }
  }

  stats(): DnsblStats {
    return {
      cache: this.#cache.stats(),
      zones: this.#runtimes.map((runtime) => ({
        name: runtime.zone.name,
        kind: runtime.zone.kind,
        weight: runtime.zone.weight,
        ...runtime.counters.snapshot(),
        health: runtime.health.snapshot(),
      })),
    };
  }

  /** Stops the probe timers (lookups in flight finish on their own). */
  close(): void {
    this.#probing = false;
    for (const runtime of this.#runtimes) runtime.stopProbing();
  }
}

/** The lookups of one client connection. Never rejects; see DnsblChecker. */
export class DnsblCheck {
  readonly clientIp: string;
  readonly #runtimes: readonly ZoneRuntime[];
  readonly #cache: DnsblCache;
  readonly #ip: Promise<ZoneResult>[] = [];
  #helo: Promise<ZoneResult>[] = [];
  #sender: Promise<ZoneResult>[] = [];

  constructor(clientIp: string, policy: DnsblPolicy, runtimes: readonly ZoneRuntime[], cache: DnsblCache) {
    this.#runtimes = runtimes;
    this.#cache = cache;
    const client = parseClientAddress(clientIp);
    this.clientIp = client?.address ?? clientIp;
    for (const runtime of runtimes) {
      if (runtime.zone.kind !== 'ip') continue;
      const { zone } = runtime;
      const skip = (why: string): void =>
        void this.#ip.push(
          Promise.resolve({ zone: zone.name, kind: 'ip', target: 'client', subject: this.clientIp, weight: zone.weight, onError: zone.onError, status: 'skipped', problem: why }),
        );
      if (!client) skip('not_an_ip');
      else if (client.local && !policy.checkPrivateClients) skip('local_client');
      else if (client.family === 6 && !zone.ipv6) skip('ipv4_only_zone');
      else {
        const queryName = buildQueryName(client.reversed, zone.zone, zone.key);
        if (!queryName) skip('name_too_long');
        else this.#ip.push(runtime.lookup({ target: 'client', value: client.address, queryName, clientIp: client.address }, cache));
      }
    }
  }

  #domainLookups(target: 'helo' | 'sender', text: string | undefined): Promise<ZoneResult>[] {
    const domain = text === undefined ? null : normalizeDomain(text);
    if (!domain) return [];
    const lookups: Promise<ZoneResult>[] = [];
    for (const runtime of this.#runtimes) {
      if (runtime.zone.kind !== 'domain' || !runtime.zone.targets.includes(target)) continue;
      const queryName = buildQueryName(domain, runtime.zone.zone, runtime.zone.key);
      if (!queryName) continue;
      const subject: Subject = { target, value: domain, queryName, clientIp: this.clientIp };
      lookups.push(runtime.lookup(subject, this.#cache));
    }
    return lookups;
  }

  /** RHSBL lookups of the HELO/EHLO name; a later call replaces them. Address literals are ignored. */
  helo(name: string | undefined): void {
    this.#helo = this.#domainLookups('helo', name);
  }

  /** RHSBL lookups of the sender domain (per transaction; undefined for the null sender). An address works too. */
  sender(domain: string | undefined): void {
    this.#sender = this.#domainLookups('sender', domain?.slice(domain.lastIndexOf('@') + 1));
  }

  /** Everything started so far, once answered. */
  results(): Promise<DnsblFacts> {
    const { clientIp } = this;
    return Promise.all(this.#ip.concat(this.#helo, this.#sender)).then((results) => ({ clientIp, results }));
  }
}
