// The one place a node:dns/promises Resolver is built (servers as host:port,
// per-query timeout, tries): DNSBL lookups, the sender-domain check and the
// delivery engine's MX resolution share it. Also the one classification of
// c-ares error codes into a small closed set of failure kinds, and the
// DnsLookupError class for callers that want an exception rather than a value.
// config/dns.ts checks config [dns] and builds the relay's resolver with it.
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { HostPort } from './host-port.ts';

export interface DnsSettings {
  /** Empty = the system's resolvers (/etc/resolv.conf). */
  readonly servers: readonly HostPort[];
  /** Milliseconds for the first try; c-ares lengthens later tries. */
  readonly timeout: number;
  readonly tries: number;
}

/** "host:port" in the form Resolver#setServers accepts ("[v6]:port" for IPv6). */
export function formatDnsServer(server: HostPort): string {
  return net.isIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

/** Servers named by host name rather than IP: a resolver cannot be asked where a resolver is. */
export function nonIpServers(settings: DnsSettings): readonly HostPort[] {
  return settings.servers.filter((server) => net.isIP(server.host) === 0);
}

/** A Resolver on these servers (empty: the system's), timeout and tries. Every server must be an IP address. */
export function createResolver(settings: DnsSettings): Resolver {
  const bad = nonIpServers(settings);
  if (bad.length > 0) throw new TypeError(`DNS server "${bad[0]?.host}" is not an IP address`);
  const resolver = new Resolver({ timeout: settings.timeout, tries: settings.tries });
  if (settings.servers.length > 0) resolver.setServers(settings.servers.map(formatDnsServer));
  return resolver;
}

/**
 * What went wrong with a lookup, as far as a caller needs to know.
 * nxdomain and nodata are answers ("no such record"), the rest are failures.
 */
export type DnsFailureKind = 'nxdomain' | 'nodata' | 'timeout' | 'servfail' | 'refused' | 'cancelled' | 'other';

const CODE_KINDS: Readonly<Record<string, DnsFailureKind>> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'nodata',
  ETIMEOUT: 'timeout',
  ESERVFAIL: 'servfail',
  EREFUSED: 'refused',
  ECONNREFUSED: 'refused',
  ECANCELLED: 'cancelled',
  EDESTRUCTION: 'cancelled',
};

export function classifyDnsError(error: unknown): DnsFailureKind {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && CODE_KINDS[code]) || 'other';
}

/** A lookup that could not be answered. nxdomain/nodata are not errors and never become one. */
export class DnsLookupError extends Error {
  readonly code = 'DNS_LOOKUP_FAILED';
  readonly kind: DnsFailureKind;
  readonly temporary: boolean;

  constructor(name: string, kind: DnsFailureKind, options?: { cause?: unknown }) {
    super(`DNS lookup of ${name} failed: ${kind}`, options);
    this.name = 'DnsLookupError';
    this.kind = kind;
    // Everything but a cancelled lookup may succeed when tried again later.
    this.temporary = kind !== 'cancelled';
  }
}
