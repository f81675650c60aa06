// AUTH: an account locked by account anomaly detection (src/accounts, issue
// 19 item 2) is refused with the wrong-credentials reply (535 5.7.8) until an
// administrator releases it. Only right credentials reach it (a wrong
// password is auth.failed as always), so the log tells a locked account's
// successful guess apart from a typo. Without the fact (explain, detection
// off) it says dunno.
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';
import { replyFor } from '../replies.ts';

const RULE = 'account-lock';

export const accountLockRule: Rule<AuthContext, unknown> = {
  name: RULE,
  evaluate(ctx, _snapshot, facts): Decision {
    if (facts.auth?.outcome !== 'ok' || facts.account?.locked !== true) return dunno('auth', RULE);
    return reject('auth', RULE, 'auth.account_locked', replyFor('auth.account_locked'), { user: ctx.attempt.user, mechanism: ctx.attempt.mechanism });
  },
};
