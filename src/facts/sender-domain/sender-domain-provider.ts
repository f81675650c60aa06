// senderDomain facts for a live session: at MAIL, the sender's domain is
// checked (sender-domain-lookup.ts) when policies/checks.toml enables it and
// the client is not exempt (relay networks, allowlist, authenticated users:
// the same exemption the rule applies, so they cost no DNS query). The null
// sender has nothing to check, and neither have two kinds of domain, which
// cost no query: RFC 6761 special-use names (localhost, invalid: the
// special-use-sender rule refuses them without DNS) and our own local domains
// (we receive their mail, so they can receive a bounce). With on_dns_error =
// "accept", a failed lookup gives no fact (the rule then says dunno) and is logged.
import type { FactsProvider, SessionFacts } from '../session-facts.ts';
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
        async gather(stage, ctx) {
          // An address literal ([192.0.2.1]) names no domain to look up.
          if (stage !== 'mail' || !settings.enabled || ctx.sender?.kind !== 'mailbox' || ctx.sender.literal !== undefined) return {};
          if (exemptFromClientChecks(ctx, snapshot)) return {};
          if (specialUseDomain(ctx.sender.domain) !== undefined || snapshot.localDomains.has(ctx.sender.domain)) return {};
          const { status } = await lookup.check(ctx.sender.domain, settings);
          if (status === 'temp_fail') {
            logger.warn({ domain: ctx.sender.domain, client: ctx.clientIp, action: settings.onDnsError }, 'sender domain lookup failed');
            if (settings.onDnsError === 'accept') return {};
          }
          return { senderDomain: { status } };
        },
        close: () => undefined,
      };
    },
  };
}
