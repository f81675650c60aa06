// How facts reach the engine during a live SMTP session. A FactsProvider is
// opened once per connection (so it can start work early: DNSBL lookups begin
// at connect) and asked for the facts of each stage just before the pure
// engine evaluates it. Providers fill disjoint fields of Facts. A provider
// that counts (limits) also hears what each stage decided, so that it counts
// only what was accepted.
import type { Decision, Stage } from '../policy/decision.ts';
import type { SessionContext } from '../policy/context.ts';
import type { Facts } from '../policy/facts.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

export interface SessionFacts {
  gather(stage: Stage, ctx: SessionContext): Promise<Facts>;
  /** The engine's decision of a stage whose facts were just gathered (called right after evaluation). */
  decided?(stage: Stage, ctx: SessionContext, decision: Decision): void;
  /** The connection is over: release counters, drop pending lookups. */
  close(): void;
}

export interface FactsProvider {
  readonly name: string;
  open(ctx: SessionContext, snapshot: PolicySnapshot): SessionFacts;
}

/** Opens every provider and merges what they gather, in parallel. */
export function openAll(providers: readonly FactsProvider[], ctx: SessionContext, snapshot: PolicySnapshot): SessionFacts {
  const sessions = providers.map((provider) => provider.open(ctx, snapshot));
  return {
    async gather(stage, current) {
      const parts = await Promise.all(sessions.map((session) => session.gather(stage, current)));
      return Object.assign({}, ...parts) as Facts;
    },
    decided(stage, current, decision) {
      for (const session of sessions) session.decided?.(stage, current, decision);
    },
    close() {
      for (const session of sessions) session.close();
    },
  };
}
