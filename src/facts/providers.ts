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
import { MemoryRateCounter } from './limits/memory-rate-counter.ts';
import { limitsProvider, type LimitsCounters, type LimitsProviderOptions } from './limits/limits-provider.ts';
import type { SecondLevelCache } from './dnsbl/dnsbl-cache.ts';
import { SenderDomainLookup } from './sender-domain/sender-domain-lookup.ts';
import { senderDomainProvider } from './sender-domain/sender-domain-provider.ts';
import { RecipientVerifier } from './recipient-probe/recipient-verifier.ts';
import { recipientProbeProvider, type NextHopResolver } from './recipient-probe/recipient-probe-provider.ts';

export interface FactsRuntime {
  readonly providers: readonly FactsProvider[];
  readonly dnsbl: DnsblChecker;
  /** The limits' counters (in process, or shared ones from src/cluster). */
  readonly counters: LimitsCounters;
  /** Live recipient verification (config [recipient_verification]); its cache and counters. */
  readonly verifier: RecipientVerifier;
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
  /**
   * Where recipient probes go (the delivery route or smarthost of an address;
   * main.ts wires delivery/routing.ts in). Without it nothing is verified live.
   */
  readonly nextHop?: NextHopResolver;
  /** false: explain without --probe-recipients (report the probe, do not send it). */
  readonly liveProbes?: boolean;
  readonly notProbed?: (address: string, hop: string) => void;
}

export function createFactsRuntime(snapshot: PolicySnapshot, logger: Logger, options: FactsRuntimeOptions = {}): FactsRuntime {
  const config: Config = snapshot.config;
  const resolver = createDnsResolver(config.dns, config.configFile);
  const dnsbl = new DnsblChecker({
    policy: snapshot.dnsbl, resolver, logger: logger.child({ component: 'dnsbl' }),
    ...(options.dnsblCache ? { secondLevelCache: options.dnsblCache } : {}),
  });
  const counters: LimitsCounters = options.counters ?? { rates: new MemoryRateCounter(), connections: new MemoryConcurrencyCounter() };
  const senderDomains = new SenderDomainLookup(resolver);
  const providers: FactsProvider[] = [
    dnsblProvider(dnsbl),
    limitsProvider(counters, logger.child({ component: 'limits' }), options.limits),
    senderDomainProvider(senderDomains, logger.child({ component: 'sender-domain' })),
  ];
  const verifier = new RecipientVerifier({ maxEntries: config.recipient_verification.cache_size });
  if (options.nextHop) {
    providers.push(recipientProbeProvider({
      verifier,
      nextHop: options.nextHop,
      logger: logger.child({ component: 'recipient-verification' }),
      ...(options.liveProbes === false ? { live: false } : {}),
      ...(options.notProbed ? { notProbed: options.notProbed } : {}),
    }));
  }
  return {
    providers,
    dnsbl,
    counters,
    verifier,
    startBackground: () => dnsbl.startHealthChecks(),
    update: (next) => dnsbl.update(next.dnsbl),
    close: () => {
      dnsbl.close();
      verifier.close();
    },
  };
}
