// AUTH: the verdict on credentials checked by auth/ (the password never
// reaches policy). Decisive in every case: without an outcome the attempt
// fails closed with a 454, so a wiring mistake can never log anyone in.
// What the check counted (failures, lockout) rides along in the detail.
import { defer, permit, reject, type Decision, type DetailValue } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';
import { replyFor } from '../replies.ts';

const RULE = 'auth-credentials';

export const authCredentialsRule: Rule<AuthContext, unknown> = {
  name: RULE,
  evaluate(ctx, _snapshot, facts): Decision {
    const detail: Record<string, DetailValue> = { user: ctx.attempt.user, mechanism: ctx.attempt.mechanism, ...facts.auth?.detail };
    switch (facts.auth?.outcome) {
      case 'ok':
        return permit('auth', RULE, 'auth.ok', detail);
      case 'failed':
        // Same reply for an unknown user and a wrong password.
        return reject('auth', RULE, 'auth.failed', replyFor('auth.failed'), detail);
      case 'locked':
        return defer('auth', RULE, 'auth.locked', replyFor('auth.locked'), detail);
      case 'unavailable':
        return defer('auth', RULE, 'internal.error', replyFor('internal.error:auth'), detail);
      case undefined:
        return defer('auth', RULE, 'internal.error', replyFor('internal.error:auth'), { ...detail, problem: 'no credential check outcome was gathered' });
    }
  },
};
