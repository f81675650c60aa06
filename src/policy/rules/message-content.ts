// DATA: content the front door measured that no relay of ours passes on: NUL
// octets (RFC 5321 2.3.8 forbids them) and a line longer than
// smtp.max_line_length (RFC 5321 4.5.3.1.6, 1000 octets with CRLF).
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';
import { replyFor } from '../replies.ts';

export const nulBytesRule: Rule<SessionContext> = {
  name: 'nul-bytes',
  evaluate(_ctx, _snapshot, facts): Decision {
    if (!facts.message?.nul) return dunno('data', 'nul-bytes');
    return reject('data', 'nul-bytes', 'data.bad_content', replyFor('data.bad_content:nul'), { problem: 'NUL character in message' });
  },
};

export const lineLengthRule: Rule<SessionContext> = {
  name: 'line-length',
  evaluate(_ctx, snapshot, facts): Decision {
    const limit = snapshot.config.smtp.max_line_length;
    const longest = facts.message?.longestLine;
    if (longest === undefined || longest <= limit) return dunno('data', 'line-length');
    return reject('data', 'line-length', 'data.bad_content', replyFor('data.bad_content:line_length'), { longest, limit });
  },
};
