// AUTH: only on listeners that offer it (an mx listener does not by default).
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';

export const authOfferedRule: Rule<AuthContext, unknown> = {
  name: 'auth-offered',
  evaluate(ctx): Decision {
    if (ctx.listener.authOffered) return dunno('auth', 'auth-offered');
    return reject('auth', 'auth-offered', 'auth.not_offered', replyFor('auth.not_offered'));
  },
};
