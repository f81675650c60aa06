// MAIL: an authenticated user may only use the sender addresses users.toml
// grants (Postfix's reject_sender_login_mismatch). The patterns and their
// matching live with the users file (sender-rule.ts); this rule only decides
// when they apply. A session whose user has vanished from users.toml since it
// logged in owns nothing.
// The null sender <> is a sender like any other here (issue 19 item 6): it
// impersonates no one, but it is what a bot with a stolen password uses to
// spray mail that can never bounce back to the account it abuses, and
// Postfix's reject_sender_login_mismatch lets it through. So with
// [auth] null_sender = "granted" (the default) a user may send <> only when
// its senders include "*" or "<>"; "any" restores Postfix's behaviour.
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';
import { checkSender, SENDER_RULE } from '../sender-rule.ts';

export const senderOwnershipRule: Rule<MailContext> = {
  name: SENDER_RULE,
  evaluate(ctx, snapshot): Decision {
    if (ctx.user === undefined) return dunno('mail', SENDER_RULE);
    const nullSender = ctx.sender.kind === 'null';
    if (nullSender && snapshot.config.auth.null_sender === 'any') return dunno('mail', SENDER_RULE);
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
    if (nullSender) return checkSender(record, '');
    return checkSender(record, `${ctx.sender.localText}@${ctx.sender.domain}`);
  },
};
