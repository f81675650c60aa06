// Connect: a client in the denylist is refused before the greeting, with the
// reason the administrator wrote next to its entry.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';
import { replySafe } from '../reply-safe.ts';

export const denylistRule: Rule<SessionContext> = {
  name: 'denylist',
  evaluate(ctx, snapshot): Decision {
    const entry = snapshot.denylist.lookup(ctx.clientIp);
    if (!entry) return dunno('connect', 'denylist');
    const reason = entry.reason ? replySafe(entry.reason) : '';
    return reject(
      'connect',
      'denylist',
      'denylist.listed',
      replyFor('denylist.listed', reason),
      { cidr: entry.cidr, file: entry.file, line: entry.line },
    );
  },
};
