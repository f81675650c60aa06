// Connect: a connection over a limit the limits module measured gets 421 and
// is closed. Trusted clients (allowlist, relay networks) skip the per-IP
// limits, never the global cap (that one protects the process, not the mail
// flow). An authenticated user is not known yet at connect. Counters that
// could not be asked (a shared store down with fail_open = false) also give
// 421, with their own reason.
import { replyFor } from '../replies.ts';
import { defer, dunno, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';
import { inRelayNetworks, isAllowlisted } from '../../config/trust.ts';

export const connectionLimitsRule: Rule<SessionContext> = {
  name: 'connection-limits',
  evaluate(ctx, snapshot, facts): Decision {
    if (facts.connection?.unavailable && !isAllowlisted(ctx, snapshot) && !inRelayNetworks(ctx, snapshot)) {
      return defer('connect', 'connection-limits', 'limits.unavailable', replyFor('limits.unavailable:connect'));
    }
    const exceeded = facts.connection?.exceeded;
    if (!exceeded) return dunno('connect', 'connection-limits');
    if (exceeded !== 'conn.global_limit' && (isAllowlisted(ctx, snapshot) || inRelayNetworks(ctx, snapshot))) return dunno('connect', 'connection-limits');
    return defer('connect', 'connection-limits', exceeded, replyFor(exceeded));
  },
};
