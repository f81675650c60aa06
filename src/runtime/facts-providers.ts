// The fact providers a live session (and `relayguard explain`) consults, built
// once from config. One list, so explain answers exactly as serve decides.
import type { Config } from '../config/schema.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import type { Logger } from '../observability/logger.ts';
import type { FactsProvider } from '../facts/session-facts.ts';
import { createDnsResolver } from '../facts/dns-resolver.ts';
import { DnsblChecker } from '../facts/dnsbl/dnsbl-checker.ts';
import { dnsblProvider } from '../facts/dnsbl/dnsbl-provider.ts';

export interface FactsRuntime {
  readonly providers: readonly FactsProvider[];
  readonly dnsbl: DnsblChecker;
  /** Starts background work (DNSBL zone health probes); serve only, not explain. */
  startBackground(): void;
  /** A reload swapped the snapshot in. */
  update(snapshot: PolicySnapshot): void;
  /** Stops background work (health probes, timers). */
  close(): void;
}

export function createFactsRuntime(snapshot: PolicySnapshot, logger: Logger): FactsRuntime {
  const config: Config = snapshot.config;
  const resolver = createDnsResolver(config.dns, config.configFile);
  const dnsbl = new DnsblChecker({ policy: snapshot.dnsbl, resolver, logger: logger.child({ component: 'dnsbl' }) });
  const providers: FactsProvider[] = [dnsblProvider(dnsbl)];
  return {
    providers,
    dnsbl,
    startBackground: () => dnsbl.startHealthChecks(),
    update: (next) => dnsbl.update(next.dnsbl),
    close: () => dnsbl.close(),
  };
}
