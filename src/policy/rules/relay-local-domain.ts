// RCPT relay list: a recipient in one of our domains is not relaying. Our own
// address literals never get here (own-literal.ts refuses them first).
import { dunno, permit, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const relayLocalDomainRule: Rule<RcptContext> = {
  name: 'local-domains',
  evaluate(ctx, snapshot): Decision {
    const { recipient } = ctx;
    if (snapshot.localDomains.has(recipient.domain)) return permit('rcpt', 'local-domains', 'rcpt.local_domain', { domain: recipient.domain });
    return dunno('rcpt', 'local-domains');
  },
};
