// MAIL: a SIZE= declaration over the limit is refused before any data flows.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';

export const declaredSizeRule: Rule<MailContext> = {
  name: 'declared-size',
  evaluate(ctx, snapshot): Decision {
    const limit = snapshot.config.smtp.max_message_size;
    if (ctx.declaredSize === undefined || ctx.declaredSize <= limit) return dunno('mail', 'declared-size');
    return reject(
      'mail',
      'declared-size',
      'mail.size_exceeded',
      replyFor('mail.size_exceeded'),
      { declared: ctx.declaredSize, limit },
    );
  },
};
