// RCPT (anti-spam list): a client whose DNSBL score reaches the threshold is
// refused, naming the lists; zones configured to defer when unanswerable
// defer. Relay networks, the allowlist and authenticated users skip it. A
// DNSWL can only lower the score: this rule never permits anything.
import { defer, dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';
import { exemptFromClientChecks, replySafe } from '../trust.ts';

const RULE = 'dnsbl';

export const dnsblRule: Rule<RcptContext> = {
  name: RULE,
  evaluate(ctx, snapshot, facts): Decision {
    const dnsbl = facts.dnsbl;
    if (!dnsbl || exemptFromClientChecks(ctx, snapshot)) return dunno('rcpt', RULE);
    const threshold = snapshot.dnsbl.threshold;
    if (dnsbl.listedBy.length > 0 && dnsbl.score >= threshold) {
      const zones = replySafe(dnsbl.listedBy.join(', '));
      return reject(
        'rcpt',
        RULE,
        'dnsbl.listed',
        { code: 554, enhanced: '5.7.1', text: `Service unavailable; client [${ctx.clientIp}] blocked using ${zones}` },
        { score: dnsbl.score, threshold, zones },
      );
    }
    if (dnsbl.unanswered && dnsbl.unanswered.length > 0) {
      return defer(
        'rcpt',
        RULE,
        'dnsbl.temp_fail',
        { code: 450, enhanced: '4.7.1', text: 'Service temporarily unavailable, try again later' },
        { zones: dnsbl.unanswered.join(', ') },
      );
    }
    return dunno('rcpt', RULE);
  },
};
