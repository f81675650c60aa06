// DATA: bare LF or bare CR (SMTP smuggling) is refused when the config says
// "reject"; under "normalize" the front door has already repaired the lines.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';

export const bareLineEndingsRule: Rule<SessionContext> = {
  name: 'bare-line-endings',
  evaluate(_ctx, snapshot, facts): Decision {
    if (!facts.message?.bareLineEnding || snapshot.config.smtp.bare_line_endings !== 'reject') return dunno('data', 'bare-line-endings');
    return reject('data', 'bare-line-endings', 'data.bare_line_ending', replyFor('data.bare_line_ending'), { problem: 'bare CR or LF in message' });
  },
};
