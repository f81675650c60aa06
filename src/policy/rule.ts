// PURE. A rule is one named check of one stage: (context, snapshot, facts) ->
// Decision, never throwing on purpose and never doing I/O. A rule list is
// evaluated in order and the first decisive (non-dunno) Decision wins, as in
// Postfix restriction lists.
import type { Decision } from './decision.ts';
import type { Facts } from './facts.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

/** `S` is what the rule reads of the policy; the AUTH rules read none of it (`unknown`). */
export interface Rule<C, S = PolicySnapshot> {
  /** Name used in Decisions, logs and `explain`. */
  readonly name: string;
  evaluate(ctx: C, snapshot: S, facts: Facts): Decision;
}

export type RuleList<C, S = PolicySnapshot> = readonly Rule<C, S>[];

/** The first decisive Decision of the list, or undefined when every rule says dunno. */
export function runRules<C, S>(rules: RuleList<C, S>, ctx: C, snapshot: S, facts: Facts): Decision | undefined {
  for (const rule of rules) {
    const decision = rule.evaluate(ctx, snapshot, facts);
    if (decision.verdict !== 'dunno') return decision;
  }
  return undefined;
}
