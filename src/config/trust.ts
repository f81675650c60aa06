// PURE. Who is trusted for what, by the policy snapshot. Kept in one place so that the exemptions of
// anti-spam rules (DNSBL, rate limits, sender checks) are the same everywhere,
// and so it is obvious that none of them is consulted by the relay rules:
// the allowlist exempts from checks, it never opens the relay. The fact
// providers (facts/) skip lookups for exempt clients by the same answers.
import type { PolicySnapshot } from './snapshot.ts';

/** What trust depends on: the client's address and whether it logged in. */
export interface TrustSubject {
  readonly clientIp: string;
  readonly user?: string | undefined;
}

export function inRelayNetworks(ctx: TrustSubject, snapshot: PolicySnapshot): boolean {
  return snapshot.relayNetworks.contains(ctx.clientIp);
}

export function isAllowlisted(ctx: TrustSubject, snapshot: PolicySnapshot): boolean {
  return snapshot.allowlist.contains(ctx.clientIp);
}

/** Exempt from DNSBL and per-IP limits: relay networks, allowlist, or an authenticated user. */
export function exemptFromClientChecks(ctx: TrustSubject, snapshot: PolicySnapshot): boolean {
  return ctx.user !== undefined || inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot);
}
