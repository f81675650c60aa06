// DATA: the message as received is over the size limit (whatever SIZE said).
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
      { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed maximum message size' },
      { size: facts.message.size, limit },
    );
  },
};
