// MAIL: a sender in an RFC 6761 special-use domain (localhost, invalid, and
// any name under them) can never receive a reply or a bounce, so it is
// refused for good (550 5.7.1), without asking DNS: a 4xx would make a relay
// tester's client retry for days. Not behind the sender-domain switch
// (checks.toml [sender_domain]), since no lookup is involved. Relay networks,
// the allowlist and authenticated users are exempt, as from the sender-domain
// check: a server on the office LAN mailing as root@localhost is normal.
// `.test` is not special here (see net/special-use.ts).
import { replyFor } from '../replies.ts';
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';
import { exemptFromClientChecks } from '../../config/trust.ts';
import { specialUseDomain } from '../../net/special-use.ts';

const RULE = 'special-use-sender';

export const specialUseSenderRule: Rule<MailContext> = {
  name: RULE,
  evaluate(ctx, snapshot): Decision {
    const { sender } = ctx;
    if (sender.kind === 'null' || sender.literal !== undefined) return dunno('mail', RULE);
    const special = specialUseDomain(sender.domain);
    if (special === undefined || exemptFromClientChecks(ctx, snapshot)) return dunno('mail', RULE);
    return reject('mail', RULE, 'mail.special_use_domain', replyFor('mail.special_use_domain', `<${sender.address}>`), {
      domain: sender.domain,
      special,
    });
  },
};
