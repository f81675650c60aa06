// RCPT relay list: the domainless `RCPT TO:<postmaster>` (any case) is
// accepted from anyone, whatever the other relay rules say (RFC 5321 4.5.1
// MUST). address.ts has already rewritten it to the configured postmaster
// address (config.toml `postmaster`), which is what gets queued.
import { dunno, permit, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';
import type { Mailbox } from '../address.ts';
import type { PolicySnapshot } from '../../config/snapshot.ts';

const RULE = 'postmaster';

export const barePostmasterRule: Rule<RcptContext> = {
  name: RULE,
  evaluate(ctx): Decision {
    if (ctx.recipient.barePostmaster !== true) return dunno('rcpt', RULE);
    return permit('rcpt', RULE, 'rcpt.postmaster', { address: ctx.recipient.address });
  },
};

/**
 * A postmaster recipient: the bare `<postmaster>` or postmaster@ one of our
 * local domains (local part in any case). The DNSBL and rate rules never
 * refuse it, as in Postfix and Exim, so a listed sender can still complain.
 */
export function isPostmasterRecipient(recipient: Mailbox, snapshot: PolicySnapshot): boolean {
  if (recipient.barePostmaster === true) return true;
  return !recipient.quoted && recipient.localText.toLowerCase() === 'postmaster' && snapshot.localDomains.has(recipient.domain);
}
