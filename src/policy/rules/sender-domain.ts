// MAIL: a sender domain that cannot receive replies (no such domain, or a
// null MX, RFC 7505) is refused, like Postfix's reject_unknown_sender_domain;
// a DNS failure defers. Trusted and authenticated clients are exempt, and the
// check only runs when facts/ gathered the answer (the switch, checks.toml
// [sender_domain], is read there; unknown_reply here).
import { replyFor } from '../replies.ts';
import { defer, dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';
import { exemptFromClientChecks } from '../../config/trust.ts';

const RULE = 'sender-domain';

export const senderDomainRule: Rule<MailContext> = {
  name: RULE,
  evaluate(ctx, snapshot, facts): Decision {
    const status = facts.senderDomain?.status;
    if (status === undefined || status === 'ok' || ctx.sender.kind === 'null') return dunno('mail', RULE);
    if (exemptFromClientChecks(ctx, snapshot)) return dunno('mail', RULE);
    const detail = { domain: ctx.sender.domain, status };
    const who = `<${ctx.sender.address}>`;
    switch (status) {
      case 'nxdomain':
        // checks.toml unknown_reply = "defer": Postfix's default 450, for a site that prefers a retry to a bounce.
        if (snapshot.checks.senderDomain.unknownReply === 'defer') {
          return defer('mail', RULE, 'mail.unknown_domain', replyFor('mail.unknown_domain:temporary', who), detail);
        }
        return reject('mail', RULE, 'mail.unknown_domain', replyFor('mail.unknown_domain', who), detail);
      case 'null_mx':
        return reject('mail', RULE, 'mail.null_mx', replyFor('mail.null_mx', who), detail);
      case 'temp_fail':
        return defer('mail', RULE, 'mail.unknown_domain', replyFor('mail.unknown_domain:lookup', who), detail);
    }
  },
};
