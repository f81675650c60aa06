// senderDomain facts for a live session: at MAIL, the sender's domain is
// checked (sender-domain-lookup.ts) when policies/checks.toml enables it and
// the client is not exempt (relay networks, allowlist, authenticated users:
// the same exemption the rule applies, so they cost no DNS query). The null
// sender has nothing to check, and neither have two kinds of domain, which
// cost no query: RFC 6761 special-use names (localhost, invalid: the
// special-use-sender rule refuses them without DNS) and our own local domains
// (we receive their mail, so they can receive a bounce). With on_dns_error =
// "accept", a failed lookup gives no fact (the rule then says dunno) and is logged.
import { NO_STAGE_FACTS, type FactsProvider, type SessionFacts } from '../session-facts.ts';
import type { SenderDomainLookup } from './sender-domain-lookup.ts';
import { exemptFromClientChecks } from '../../config/trust.ts';
import { specialUseDomain } from '../../net/special-use.ts';
import type { Logger } from '../../log/logger.ts';

export function senderDomainProvider(lookup: SenderDomainLookup, logger: Logger): FactsProvider {
  return {
    name: 'sender-domain',
    open(_ctx, snapshot): SessionFacts {
      const settings = snapshot.checks.senderDomain;
      return {
        // Not async: only a lookup that goes to DNS is waited for; a cached
        // answer (a cache never holds temp_fail) and "nothing to check" are values.
        gather(stage, ctx) {
          // An address literal ([192.0.2.1]) names no domain to look up.
          if (stage !== 'mail' || !settings.enabled || ctx.sender?.kind !== 'mailbox' || ctx.sender.literal !== undefined) return NO_STAGE_FACTS;
          if (exemptFromClientChecks(ctx, snapshot)) return NO_STAGE_FACTS;
          const { domain } = ctx.sender;
          if (specialUseDomain(domain) !== undefined || snapshot.localDomains.has(domain)) return NO_STAGE_FACTS;
          const cached = lookup.cached(domain);
          if (cached !== undefined) return { senderDomain: { status: cached } };
          return lookup.check(domain, settings).then(({ status }) => {
            if (status === 'temp_fail') {
              logger.warn({ domain, client: ctx.clientIp, action: settings.onDnsError }, 'sender domain lookup failed');
              if (settings.onDnsError === 'accept') return NO_STAGE_FACTS;
            }
            return { senderDomain: { status } };
          });
        },
        close: () => undefined,
      };
    },
  };
}
