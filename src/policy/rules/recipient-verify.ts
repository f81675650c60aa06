// RCPT relay list, before local-domains: static recipient verification
// (policies/recipients, Postfix relay_recipient_maps). A recipient in a local
// domain the file verifies, and not listed there, is refused at RCPT with
// 550 5.1.1 "User unknown": we never queue mail our backend would bounce to a
// (usually forged) sender. Not verified: mail from relay-networks clients and
// authenticated users (their bounces go to our own users), postmaster@ any
// local domain (always accepted, RFC 5321 4.5.1), domains the file does not
// name, and catch-all domains (@domain).
import { replyFor } from '../replies.ts';
import { dunno, permit, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';
import { isPostmasterRecipient } from './bare-postmaster.ts';

const RULE = 'recipients';

export const recipientVerifyRule: Rule<RcptContext> = {
  name: RULE,
  evaluate(ctx, snapshot): Decision {
    const { recipient } = ctx;
    if (!snapshot.localDomains.has(recipient.domain)) return dunno('rcpt', RULE);
    if (ctx.user !== undefined || snapshot.relayNetworks.lookup(ctx.clientIp) !== undefined) return dunno('rcpt', RULE);
    if (isPostmasterRecipient(recipient, snapshot)) return dunno('rcpt', RULE);
    const status = snapshot.recipients.lookup(recipient.localText, recipient.domain);
    if (status === 'unverified') return dunno('rcpt', RULE);
    if (status === 'unknown') {
      return reject('rcpt', RULE, 'rcpt.unknown_user', replyFor('rcpt.unknown_user', recipient.address), { domain: recipient.domain });
    }
    return permit('rcpt', RULE, 'rcpt.local_domain', { domain: recipient.domain, recipients: status });
  },
};
