// PURE. Who is trusted for what. Kept in one place so that the exemptions of
// anti-spam rules (DNSBL, rate limits, sender checks) are the same everywhere,
// and so it is obvious that none of them is consulted by the relay rules:
// the allowlist exempts from checks, it never opens the relay.
import type { SessionContext } from './context.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

export function inRelayNetworks(ctx: SessionContext, snapshot: PolicySnapshot): boolean {
  return snapshot.relayNetworks.contains(ctx.clientIp);
}

export function isAllowlisted(ctx: SessionContext, snapshot: PolicySnapshot): boolean {
  return snapshot.allowlist.contains(ctx.clientIp);
}

/** Exempt from DNSBL and per-IP limits: relay networks, allowlist, or an authenticated user. */
export function exemptFromClientChecks(ctx: SessionContext, snapshot: PolicySnapshot): boolean {
  return ctx.user !== undefined || inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot);
}

/** Text from a policy file made safe for a reply line: printable, one line, bounded. */
export function replySafe(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim().slice(0, max);
}
