// RCPT relay list, first: a recipient at one of our own address literals
// (user@[192.0.2.25], where that is the address the client connected to or
// the listener's) is refused, 550 5.7.1, for every client. The next hop could
// not read our literal: such mail used to be queued, loop back to us and
// bounce to a (usually forged) sender. Trusted clients (relay networks,
// authenticated users) are refused too: no literal is mapped to a local
// domain, so there is nowhere honest to deliver it; they can name the domain.
// Literals that are not ours never get here (address.ts refuses them).
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';

const RULE = 'own-literal';

export const ownLiteralRule: Rule<RcptContext> = {
  name: RULE,
  evaluate(ctx): Decision {
    const { literal } = ctx.recipient;
    if (literal === undefined || !ctx.ours.addresses.has(literal)) return dunno('rcpt', RULE);
    return reject('rcpt', RULE, 'rcpt.address_literal', replyFor('rcpt.address_literal:ours'), { literal });
  },
};
