// DNSBL facts for a live session. Lookups start when the connection opens
// (in parallel, for every zone, not awaited), the HELO name and sender domain
// are added when known, and the answers are awaited only at RCPT, so a listed
// client costs one DNS round trip at most. Trusted clients (relay networks,
// allowlist) are never looked up; authenticated users are not waited for.
import type { FactsProvider, SessionFacts } from '../session-facts.ts';
import type { DnsblChecker } from './dnsbl-checker.ts';
import { inRelayNetworks, isAllowlisted } from '../../policy/trust.ts';

const NOTHING: SessionFacts = { gather: async () => ({}), close: () => undefined };

export function dnsblProvider(checker: DnsblChecker): FactsProvider {
  return {
    name: 'dnsbl',
    open(ctx, snapshot) {
      if (snapshot.dnsbl.zones.length === 0 || inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot)) return NOTHING;
      const check = checker.start(ctx.clientIp);
      return {
        async gather(stage, current) {
          if (stage === 'helo' && current.helo) check.helo(current.helo);
          if (stage === 'mail' && current.sender?.kind === 'mailbox') check.sender(current.sender.domain);
          if (stage !== 'rcpt' || current.user !== undefined) return {};
          return { dnsbl: await check.results() };
        },
        close: () => undefined,
      };
    },
  };
}
