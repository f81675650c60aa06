// DNSBL facts for a live session. Lookups start when the connection opens
// (in parallel, for every zone, not awaited), the HELO name and sender domain
// are added when known, and the answers are awaited only at RCPT, so a listed
// client costs one DNS round trip at most. Trusted clients (relay networks,
// allowlist) are never looked up; authenticated users are never waited for,
// and nothing new is started for them once they have logged in.
// On a submission listener every client that reaches RCPT has authenticated
// (MAIL needs AUTH there), so nothing is started at connect: a lookup there
// would only be a query sent about a user's address. Should an unauthenticated
// client ever reach RCPT on one, its lookups start then.
import { NO_STAGE_FACTS, type FactsProvider, type SessionFacts } from '../session-facts.ts';
import type { DnsblCheck, DnsblChecker } from './dnsbl-checker.ts';
import { inRelayNetworks, isAllowlisted } from '../../config/trust.ts';

const NOTHING: SessionFacts = { gather: () => NO_STAGE_FACTS, close: () => undefined };

export function dnsblProvider(checker: DnsblChecker): FactsProvider {
  return {
    name: 'dnsbl',
    open(ctx, snapshot) {
      if (snapshot.dnsbl.zones.length === 0 || inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot)) return NOTHING;
      let check: DnsblCheck | undefined = ctx.listener.role === 'submission' ? undefined : checker.start(ctx.clientIp);
      return {
        // Not async: only RCPT waits (for the answers); the other stages answer with a value.
        gather(stage, current) {
          if (current.user !== undefined) return NO_STAGE_FACTS;
          if (stage === 'helo' && current.helo) check?.helo(current.helo);
          if (stage === 'mail' && current.sender?.kind === 'mailbox') check?.sender(current.sender.domain);
          if (stage !== 'rcpt') return NO_STAGE_FACTS;
          check ??= checker.start(ctx.clientIp, {
            ...(current.helo ? { helo: current.helo } : {}),
            ...(current.sender?.kind === 'mailbox' ? { senderDomain: current.sender.domain } : {}),
          });
          return check.results().then((dnsbl) => ({ dnsbl }));
        },
        close: () => undefined,
      };
    },
  };
}
