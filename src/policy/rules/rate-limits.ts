// MAIL and RCPT: a rate window the limits module found exceeded defers the
// client (450 4.7.1). Per-IP and per-sender-domain windows do not apply to
// relay networks and the allowlist; per-IP ones not to authenticated users
// either (their own quota applies, and is never exempt). Counters that could
// not be asked (a shared store down with fail_open = false) defer with 451
// 4.3.0; the limits module asks only the counters that apply to the client.
// At RCPT, a postmaster recipient (bare-postmaster.ts) is never refused by
// this rule, as in Postfix and Exim: a throttled sender may still complain.
import { replyFor } from '../replies.ts';
import { defer, dunno, type Decision, type ReasonCode } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';
import type { RateExceeded } from '../facts.ts';
import type { PolicySnapshot } from '../../config/snapshot.ts';
import { inRelayNetworks, isAllowlisted } from '../../config/trust.ts';
import type { RcptContext } from '../context.ts';
import { isPostmasterRecipient } from './bare-postmaster.ts';

const isRcpt = (ctx: SessionContext): ctx is RcptContext => 'recipient' in ctx;

function applies(limit: RateExceeded, ctx: SessionContext, snapshot: PolicySnapshot): boolean {
  if (limit.scope === 'user') return true;
  if (inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot)) return false;
  return !(limit.scope === 'ip' && ctx.user !== undefined);
}

export function rateLimitsRule(stage: 'mail' | 'rcpt'): Rule<SessionContext> {
  const rule = 'rate-limits';
  return {
    name: rule,
    evaluate(ctx, snapshot, facts): Decision {
      if (stage === 'rcpt' && isRcpt(ctx) && isPostmasterRecipient(ctx.recipient, snapshot)) return dunno(stage, rule);
      const hit = facts.rate?.exceeded.find((limit) => applies(limit, ctx, snapshot));
      if (!hit && facts.rate?.unavailable) {
        return defer(stage, rule, 'limits.unavailable', replyFor('limits.unavailable'));
      }
      if (!hit) return dunno(stage, rule);
      const reason: ReasonCode = hit.quota ? 'quota.exceeded' : stage === 'mail' ? 'mail.rate' : 'rcpt.rate';
      return defer(
        stage,
        rule,
        reason,
        replyFor(reason),
        { scope: hit.scope, limit: hit.limit },
      );
    },
  };
}
