// The fact providers a live session (and `relayguard explain`) consults, built
// once from config. One list, so explain answers exactly as serve decides.
import type { Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { FactsProvider } from './session-facts.ts';
import { createDnsResolver } from '../config/dns.ts';
import { DnsblChecker } from './dnsbl/dnsbl-checker.ts';
import { dnsblProvider } from './dnsbl/dnsbl-provider.ts';
import { MemoryConcurrencyCounter } from './limits/counters.ts';
import { FlexibleRateCounter } from './limits/rate-counter.ts';
import { limitsProvider, type LimitsCounters, type LimitsProviderOptions } from './limits/limits-provider.ts';
import type { SecondLevelCache } from './dnsbl/dnsbl-cache.ts';
import { SenderDomainLookup } from './sender-domain/sender-domain-lookup.ts';
import { senderDomainProvider } from './sender-domain/sender-domain-provider.ts';

export interface FactsRuntime {
  readonly providers: readonly FactsProvider[];
  readonly dnsbl: DnsblChecker;
  /** The limits' counters (in process, or shared ones from src/cluster). */
  readonly counters: LimitsCounters;
  /** Starts background work (DNSBL zone health probes); serve only, not explain. */
  startBackground(): void;
  /** A reload swapped the snapshot in. */
  update(snapshot: PolicySnapshot): void;
  /** Stops background work (health probes, timers). */
  close(): void;
}

export interface FactsRuntimeOptions {
  /** Counters for the limits; default in process (a shared store goes here). */
  readonly counters?: LimitsCounters;
  /** How the limits treat a counter that fails (fail open or closed, how it is reported). */
  readonly limits?: LimitsProviderOptions;
  /** A DNSBL cache shared with other instances, behind the in-process one. */
  readonly dnsblCache?: SecondLevelCache;
}

export function createFactsRuntime(snapshot: PolicySnapshot, logger: Logger, options: FactsRuntimeOptions = {}): FactsRuntime {
  const config: Config = snapshot.config;
  const resolver = createDnsResolver(config.dns, config.configFile);
  const dnsbl = new DnsblChecker({
    policy: snapshot.dnsbl, resolver, logger: logger.child({ component: 'dnsbl' }),
    ...(options.dnsblCache ? { secondLevelCache: options.dnsblCache } : {}),
  });
  const counters: LimitsCounters = options.counters ?? { rates: new FlexibleRateCounter(), connections: new MemoryConcurrencyCounter() };
  const senderDomains = new SenderDomainLookup(resolver);
  const providers: FactsProvider[] = [
    dnsblProvider(dnsbl),
    limitsProvider(counters, logger.child({ component: 'limits' }), options.limits),
    senderDomainProvider(senderDomains, logger.child({ component: 'sender-domain' })),
  ];
  return {
    providers,
    dnsbl,
    counters,
    startBackground: () => dnsbl.startHealthChecks(),
    update: (next) => dnsbl.update(next.dnsbl),
    close: () => dnsbl.close(),
  };
}
