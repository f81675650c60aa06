// MAIL: an authenticated user may only use the sender addresses users.toml
// grants (Postfix's reject_sender_login_mismatch). The patterns and their
// matching live with the users file (sender-rule.ts); this rule only decides
// when they apply. The null sender is allowed: it impersonates no one
// (clients send auto-replies and receipts with it). A session whose user has
// vanished from users.toml since it logged in owns nothing.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';
import { checkSender, SENDER_RULE } from '../sender-rule.ts';

export const senderOwnershipRule: Rule<MailContext> = {
  name: SENDER_RULE,
  evaluate(ctx, snapshot): Decision {
    if (ctx.user === undefined || ctx.sender.kind === 'null') return dunno('mail', SENDER_RULE);
    const record = snapshot.users.get(ctx.user);
    if (!record) {
      return reject(
        'mail',
        SENDER_RULE,
        'mail.sender_not_owned',
        replyFor('mail.sender_not_owned', ctx.user),
        { user: ctx.user, known: false },
      );
    }
    // Compare the unquoted local part: "alice"@example.test is alice@example.test.
    return checkSender(record, `${ctx.sender.localText}@${ctx.sender.domain}`);
  },
};
