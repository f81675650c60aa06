// MAIL: a submission listener is for authenticated clients only.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';

export const submissionAuthRule: Rule<MailContext> = {
  name: 'submission-auth',
  evaluate(ctx): Decision {
    if (ctx.listener.role !== 'submission' || ctx.user !== undefined) return dunno('mail', 'submission-auth');
    return reject('mail', 'submission-auth', 'mail.auth_required', replyFor('mail.auth_required'));
  },
};
