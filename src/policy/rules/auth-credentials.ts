// AUTH: the verdict on credentials checked by auth/ (the password never
// reaches policy). Decisive in every case: without an outcome the attempt
// fails closed with a 454, so a wiring mistake can never log anyone in.
import { defer, permit, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { AuthContext } from '../context.ts';

const RULE = 'auth-credentials';

export const authCredentialsRule: Rule<AuthContext> = {
  name: RULE,
  evaluate(ctx, _snapshot, facts): Decision {
    const detail = { user: ctx.attempt.user, mechanism: ctx.attempt.mechanism };
    switch (facts.auth?.outcome) {
      case 'ok':
        return permit('auth', RULE, 'auth.ok', detail);
      case 'failed':
        // Same reply for an unknown user and a wrong password.
        return reject('auth', RULE, 'auth.failed', { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' }, detail);
      case 'locked':
        return defer('auth', RULE, 'auth.locked', { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure' }, detail);
      case undefined:
        return defer(
          'auth',
          RULE,
          'internal.error',
          { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure' },
          { ...detail, problem: 'no credential check outcome was gathered' },
        );
    }
  },
};
