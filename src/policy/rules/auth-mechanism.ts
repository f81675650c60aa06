// AUTH: only the SASL mechanisms we verify (PLAIN, LOGIN); smtp-server
// advertises only these, so this guards a wiring mistake.
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';
import { replyFor } from '../replies.ts';

export const AUTH_MECHANISMS: ReadonlySet<string> = new Set(['PLAIN', 'LOGIN']);

export const authMechanismRule: Rule<AuthContext, unknown> = {
  name: 'auth-mechanism',
  evaluate(ctx): Decision {
    if (AUTH_MECHANISMS.has(ctx.attempt.mechanism.toUpperCase())) return dunno('auth', 'auth-mechanism');
    return reject('auth', 'auth-mechanism', 'auth.not_offered', replyFor('auth.not_offered:mechanism'), { mechanism: ctx.attempt.mechanism });
  },
};
