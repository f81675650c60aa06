// AUTH: never in plaintext, on any port (RFC 4954 538).
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';

export const authTlsRule: Rule<AuthContext> = {
  name: 'auth-tls',
  evaluate(ctx): Decision {
    if (ctx.tls) return dunno('auth', 'auth-tls');
    return reject('auth', 'auth-tls', 'auth.tls_required', {
      code: 538,
      enhanced: '5.7.11',
      text: 'Encryption required for requested authentication mechanism',
    });
  },
};
