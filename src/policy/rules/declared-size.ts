// MAIL: a SIZE= declaration over the limit is refused before any data flows.
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
      { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed maximum message size' },
      { declared: ctx.declaredSize, limit },
    );
  },
};
