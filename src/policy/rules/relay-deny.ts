// RCPT relay list, last rule: everything not permitted above is relaying for
// a stranger. Always decisive, so the relay list can never fall through.
import { replyFor } from '../replies.ts';
import { reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const relayDenyRule: Rule<RcptContext> = {
  name: 'reject-relay',
  evaluate(ctx): Decision {
    return reject(
      'rcpt',
      'reject-relay',
      'relay.denied',
      replyFor('relay.denied', ctx.recipient.address),
      { domain: ctx.recipient.domain },
    );
  },
};
