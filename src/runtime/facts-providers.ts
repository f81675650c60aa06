// The fact providers a live session (and `relayguard explain`) consults, built
// once from config. One list, so explain answers exactly as serve decides.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { FactsProvider } from '../facts/session-facts.ts';

export interface FactsRuntime {
  readonly providers: readonly FactsProvider[];
  /** Stops background work (health probes, timers). */
  close(): void;
}

export function createFactsRuntime(_config: Config, _logger: Logger): FactsRuntime {
  const providers: FactsProvider[] = [];
  return { providers, close: () => undefined };
}
