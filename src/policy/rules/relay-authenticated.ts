// RCPT relay list: an authenticated user may relay anywhere.
import { dunno, permit, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

export const relayAuthenticatedRule: Rule<RcptContext> = {
  name: 'authenticated',
  evaluate(ctx): Decision {
    if (ctx.user === undefined) return dunno('rcpt', 'authenticated');
    return permit('rcpt', 'authenticated', 'relay.authenticated', { user: ctx.user });
  },
};
