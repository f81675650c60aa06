// RCPT: at most smtp.max_recipients per message; the client sends the rest in
// another transaction (452 is the RFC 5321 4.5.3.1.10 answer). A Postfix
// asking through the policy service has its own, smtpd_recipient_limit
// (smtp.* settings are about relayguard's own listener; README).
import { replyFor } from '../replies.ts';
import { defer, dunno, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const recipientLimitRule: Rule<RcptContext> = {
  name: 'recipient-limit',
  evaluate(ctx, snapshot): Decision {
    if (ctx.listener.source === 'policy service') return dunno('rcpt', 'recipient-limit');
    const limit = snapshot.config.smtp.max_recipients;
    if (ctx.recipients.length < limit) return dunno('rcpt', 'recipient-limit');
    return defer('rcpt', 'recipient-limit', 'rcpt.too_many', replyFor('rcpt.too_many'), { limit });
  },
};
