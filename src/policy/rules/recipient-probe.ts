// RCPT relay list, before the static recipients rule: live recipient
// verification (config [recipient_verification]; Postfix's
// reject_unverified_recipient, Exim's recipient callout). The probe itself is
// a fact (facts/recipient-probe asks the next hop MAIL FROM:<> / RCPT TO /
// RSET and caches the answer); this rule only reads it:
//   refused (5xx)  -> 550 5.1.1 User unknown (the same reason as the static
//                     file, detail source=next_hop)
//   unavailable    -> 450 4.1.1 (4xx, unreachable, past the time budget):
//                     never 250 and never 5xx for an answer we do not have
//   accepted       -> permit as a local domain (detail says it was verified)
//   not_probed     -> dunno (explain without --probe-recipients says so in a note)
// The provider gathers the fact only for recipients in local domains from
// untrusted, unauthenticated clients, never for postmaster; the rule checks
// the same exemptions again so a stray fact can never refuse a trusted client.
import { replyFor } from '../replies.ts';
import { defer, dunno, permit, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { RcptContext } from '../context.ts';
import { isPostmasterRecipient } from './bare-postmaster.ts';

const RULE = 'recipient_probe';

export const recipientProbeRule: Rule<RcptContext> = {
  name: RULE,
  evaluate(ctx, snapshot, facts): Decision {
    const probe = facts.recipientProbe;
    if (probe === undefined || probe.outcome === 'not_probed') return dunno('rcpt', RULE);
    const { recipient } = ctx;
    if (!snapshot.localDomains.has(recipient.domain)) return dunno('rcpt', RULE);
    if (ctx.user !== undefined || snapshot.relayNetworks.lookup(ctx.clientIp) !== undefined) return dunno('rcpt', RULE);
    if (isPostmasterRecipient(recipient, snapshot)) return dunno('rcpt', RULE);
    const detail = { domain: recipient.domain, source: 'next_hop', hop: probe.hop, answer: probe.source, ...(probe.reply !== undefined ? { reply: probe.reply } : {}) };
    switch (probe.outcome) {
      case 'refused':
        return reject('rcpt', RULE, 'rcpt.unknown_user', replyFor('rcpt.unknown_user', recipient.address), detail);
      case 'unavailable':
        return defer('rcpt', RULE, 'rcpt.unverified', replyFor(probe.timedOut ? 'rcpt.unverified' : 'rcpt.unverified:failed', recipient.address), detail);
      case 'accepted':
        return permit('rcpt', RULE, 'rcpt.local_domain', { ...detail, verified: true });
    }
  },
};
