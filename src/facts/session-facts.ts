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
  /**
   * The facts of a stage. A provider with the answer at hand (nothing to
   * say, a cache hit) may return it as a plain value: no promise to make and
   * settle per stage; one that must wait returns a promise.
   */
  gather(stage: Stage, ctx: SessionContext): Facts | Promise<Facts>;
  /** The engine's decision of a stage whose facts were just gathered (called right after evaluation). */
  decided?(stage: Stage, ctx: SessionContext, decision: Decision): void;
  /** The connection is over: release counters, drop pending lookups. */
  close(): void;
}

export interface FactsProvider {
  readonly name: string;
  open(ctx: SessionContext, snapshot: PolicySnapshot): SessionFacts;
}

/** What a provider gathers when it has nothing to say: shared, never written to. */
export const NO_STAGE_FACTS: Facts = Object.freeze({});

/** Later parts win, as Object.assign({}, ...parts) would; empty parts (most of them) cost nothing. */
function merge(parts: readonly Facts[]): Facts {
  const facts: Facts = {};
  for (const part of parts) if (part !== NO_STAGE_FACTS) Object.assign(facts, part);
  return facts;
}

/** Opens every provider and merges what they gather, in parallel. */
export function openAll(providers: readonly FactsProvider[], ctx: SessionContext, snapshot: PolicySnapshot): SessionFacts {
  const sessions = providers.map((provider) => provider.open(ctx, snapshot));
  return {
    // Hot path (every stage of every session): one loop, and when every
    // provider answered with a value, one settled promise instead of
    // Promise.all over one promise per provider.
    gather(stage, current) {
      const parts: Array<Facts | Promise<Facts>> = new Array<Facts | Promise<Facts>>(sessions.length);
      let waiting = 0;
      let waitingAt = -1;
      try {
        for (let i = 0; i < sessions.length; i++) {
          const part = (sessions[i] as SessionFacts).gather(stage, current);
          if (typeof (part as Partial<PromiseLike<Facts>>).then === 'function') {
            waiting++;
            waitingAt = i;
          }
          parts[i] = part;
        }
      } catch (error) {
        return Promise.reject(error); // as before: a provider that throws rejects the stage's gather
      }
      if (waiting === 0) return Promise.resolve(merge(parts as Facts[]));
      if (waiting === 1) {
        // The usual case at CONNECT and MAIL (only the counters wait): Promise.all
        // would make a promise for each of the values too.
        return (parts[waitingAt] as Promise<Facts>).then((facts) => {
          parts[waitingAt] = facts;
          return merge(parts as Facts[]);
        });
      }
      return Promise.all(parts).then(merge);
    },
    decided(stage, current, decision) {
      for (const session of sessions) session.decided?.(stage, current, decision);
    },
    close() {
      for (const session of sessions) session.close();
    },
  };
}
