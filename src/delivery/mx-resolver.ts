// MX resolution per RFC 5321 §5.1 with the configured resolver (node:dns,
// config [dns]): MX records by preference, shuffled among equal preference;
// no MX records -> the domain itself (implicit MX); a null MX (RFC 7505, one
// record with exchange ".") -> permanent failure, nothing is contacted; an
// exchange that is a CNAME or has no address is skipped with a log line.
// Loop guard: the first preference level holding one of our own listening
// addresses and everything less preferred are dropped (§5.1); if nothing is
// left the domain points back at us: a permanent failure, never a loop.
import { isIP } from 'node:net';
import type { Logger } from '../log/logger.ts';
import { lookupAddresses, lookupMx, type MxLookupDns } from '../net/mx-lookup.ts';
import { isOwnAddress, type OwnAddresses } from './loop-guard.ts';

export interface MxDns extends MxLookupDns {
  resolveCname(name: string): Promise<string[]>;
}

export interface MxHost {
  /** The exchange name (or the domain, for an implicit MX). */
  readonly name: string;
  readonly address: string;
  readonly preference: number;
}

export type MxResolution =
  | { readonly kind: 'hosts'; readonly hosts: readonly MxHost[] }
  | { readonly kind: 'temporary'; readonly reason: string }
  | { readonly kind: 'permanent'; readonly reason: string; readonly enhanced: string };

export interface MxResolverOptions {
  readonly dns: MxDns;
  readonly logger: Logger;
  /** Port used for MX delivery (config delivery.mx_port), for the loop guard. */
  readonly port: number;
  readonly ownAddresses: OwnAddresses;
  readonly random?: () => number;
  /** Addresses tried at most per delivery attempt. */
  readonly maxAddresses?: number;
}

export function createMxResolver(options: MxResolverOptions): (domain: string) => Promise<MxResolution> {
  const random = options.random ?? Math.random;
  const maxAddresses = options.maxAddresses ?? 10;
  const logger = options.logger;

  async function addressesOf(name: string): Promise<{ addresses: readonly string[]; error?: string; notFound?: boolean }> {
    const found = await lookupAddresses(options.dns, name);
    if (found.kind === 'addresses') return { addresses: found.addresses };
    return { addresses: [], error: found.code, notFound: found.kind === 'none' };
  }

  return async function resolveMxHosts(domain: string): Promise<MxResolution> {
    const literal = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain);
    if (literal) {
      const address = literal[1] as string;
      if (!isIP(address)) return { kind: 'permanent', reason: `invalid address literal ${domain}`, enhanced: '5.1.2' };
      return guard(domain, [{ name: domain, address, preference: 0 }]);
    }
    const mx = await lookupMx(options.dns, domain);
    if (mx.kind === 'nxdomain') return { kind: 'permanent', reason: `domain ${domain} does not exist (NXDOMAIN)`, enhanced: '5.1.2' };
    if (mx.kind === 'failed') return { kind: 'temporary', reason: `MX lookup for ${domain} failed: ${mx.code}` };
    if (mx.kind === 'null_mx') return { kind: 'permanent', reason: `domain ${domain} does not accept mail (null MX)`, enhanced: '5.1.10' };
    // No MX records: the domain itself is the implicit MX (RFC 5321 §5.1).
    const implicit = mx.kind === 'none';
    const ordered = mx.kind === 'exchanges' ? mx.exchanges : [{ exchange: domain, priority: 0 }];
    // By preference, random among equal preference (RFC 5321 §5.1).
    const keyed = ordered.map((e) => ({ ...e, tie: random() }));
    keyed.sort((a, b) => a.priority - b.priority || a.tie - b.tie);

    const hosts: MxHost[] = [];
    let lastError = '';
    const lookups = await Promise.all(
      keyed.map(async (e) => {
        const [cname, found] = await Promise.all([
          implicit ? Promise.resolve([] as string[]) : options.dns.resolveCname(e.exchange).catch(() => [] as string[]),
          addressesOf(e.exchange),
        ]);
        return { e, cname, found };
      }),
    );
    for (const { e, cname, found } of lookups) {
      if (cname.length > 0) {
        logger.warn({ domain, exchange: e.exchange, cname: cname[0] }, 'MX exchange is a CNAME (RFC 5321 §5.1), skipped');
        continue;
      }
      if (found.addresses.length === 0) {
        lastError = `${e.exchange}: ${found.error ?? 'no address'}`;
        if (implicit && found.notFound) {
          return { kind: 'permanent', reason: `domain ${domain} has no MX and no address records`, enhanced: '5.1.2' };
        }
        logger.warn({ domain, exchange: e.exchange, error: found.error }, 'MX exchange has no address, skipped');
        continue;
      }
      // IPv4 first: many edge hosts have no IPv6 route, and a v6 attempt would only cost time.
      const sorted = [...found.addresses].sort((a, b) => (isIP(a) === isIP(b) ? 0 : isIP(a) === 4 ? -1 : 1));
      for (const address of sorted) hosts.push({ name: e.exchange, address, preference: e.priority });
    }
    if (hosts.length === 0) return { kind: 'temporary', reason: `no usable MX host for ${domain}${lastError ? ` (${lastError})` : ''}` };
    return guard(domain, hosts);
  };

  function guard(domain: string, hosts: MxHost[]): MxResolution {
    const own = hosts.find((h) => isOwnAddress(h.address, options.port, options.ownAddresses()));
    let kept = hosts;
    if (own) {
      kept = hosts.filter((h) => h.preference < own.preference);
      logger.warn({ domain, exchange: own.name, address: own.address }, 'MX points to one of our own addresses');
      if (kept.length === 0) {
        return { kind: 'permanent', reason: `mail for ${domain} loops back to myself (MX ${own.name} is ${own.address}:${options.port})`, enhanced: '5.4.6' };
      }
    }
    return { kind: 'hosts', hosts: kept.slice(0, maxAddresses) };
  }
}
