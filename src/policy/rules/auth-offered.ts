// AUTH: only on listeners that offer it (an mx listener does not by default).
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';

export const authOfferedRule: Rule<AuthContext> = {
  name: 'auth-offered',
  evaluate(ctx): Decision {
    if (ctx.listener.authOffered) return dunno('auth', 'auth-offered');
    return reject('auth', 'auth-offered', 'auth.not_offered', { code: 502, enhanced: '5.5.1', text: 'Authentication not available' });
  },
};
