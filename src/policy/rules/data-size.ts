// DATA: the message as received is over the size limit (whatever SIZE said).
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { SessionContext } from '../context.ts';

export const dataSizeRule: Rule<SessionContext> = {
  name: 'data-size',
  evaluate(_ctx, snapshot, facts): Decision {
    const limit = snapshot.config.smtp.max_message_size;
    if (!facts.message || facts.message.size <= limit) return dunno('data', 'data-size');
    return reject(
      'data',
      'data-size',
      'data.size_exceeded',
      replyFor('data.size_exceeded'),
      { size: facts.message.size, limit },
    );
  },
};
