// RCPT (anti-spam list): the DNSBL/RHSBL score from the answers gathered since
// connect, decided by the pure scoring in dnsbl-rule.ts (refuse 554 naming the
// lists, or defer when an on_error = "defer" zone could change the outcome).
// Relay networks, the allowlist and authenticated users skip it, and so does
// a postmaster recipient (bare-postmaster.ts: a listed sender may still
// complain to postmaster, as in Postfix and Exim). A DNSWL can
// only lower the score: this rule never permits anything.
import { dunno, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';
import { exemptFromClientChecks } from '../../config/trust.ts';
import { DNSBL_RULE, evaluateDnsbl } from '../dnsbl-rule.ts';
import { isPostmasterRecipient } from './bare-postmaster.ts';

export const dnsblRule: Rule<RcptContext> = {
  name: DNSBL_RULE,
  evaluate(ctx, snapshot, facts): Decision {
    const dnsbl = facts.dnsbl;
    if (!dnsbl || exemptFromClientChecks(ctx, snapshot) || isPostmasterRecipient(ctx.recipient, snapshot)) return dunno('rcpt', DNSBL_RULE);
    return evaluateDnsbl(dnsbl, snapshot.dnsbl, 'rcpt');
  },
};
