// AUTH: never in plaintext, on any port (RFC 4954 538).
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';

export const authTlsRule: Rule<AuthContext, unknown> = {
  name: 'auth-tls',
  evaluate(ctx): Decision {
    if (ctx.tls) return dunno('auth', 'auth-tls');
    return reject('auth', 'auth-tls', 'auth.tls_required', replyFor('auth.tls_required'));
  },
};
