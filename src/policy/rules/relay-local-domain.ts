// RCPT relay list: a recipient in one of our domains (or at one of our own
// address literals, which address.ts already checked) is not relaying.
import { dunno, permit, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const relayLocalDomainRule: Rule<RcptContext> = {
  name: 'local-domains',
  evaluate(ctx, snapshot): Decision {
    const { recipient } = ctx;
    if (recipient.literal !== undefined && ctx.ours.addresses.has(recipient.literal)) {
      return permit('rcpt', 'local-domains', 'rcpt.local_domain', { literal: recipient.literal });
    }
    if (snapshot.localDomains.has(recipient.domain)) return permit('rcpt', 'local-domains', 'rcpt.local_domain', { domain: recipient.domain });
    return dunno('rcpt', 'local-domains');
  },
};
