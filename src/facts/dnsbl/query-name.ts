// PURE. The DNS names a DNSBL lookup asks for (RFC 5782):
//   IPv4 1.2.3.4          -> 4.3.2.1.<zone>
//   IPv6 2001:db8::1      -> 32 reversed nibbles.<zone> (only for ipv6 zones)
//   ::ffff:1.2.3.4        -> treated as the IPv4 client it is
//   domain (RHSBL)        -> example.com.<zone>
// An optional access key (Spamhaus DQS, Abusix) sits between the subject and
// the zone: <subject>.<key>.<zone>. The key is a secret: names built here are
// used as DNS questions and cache keys only, never shown or logged.
import ipaddr from 'ipaddr.js';
import net from 'node:net';
import { asciiDomain } from '../../net/ascii-domain.ts';
import { parseDottedQuad } from '../../net/ip-text.ts';

export interface ClientAddress {
  readonly family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (mapped IPv6 becomes IPv4). */
  readonly address: string;
  /** The reversed labels that precede the zone. */
  readonly reversed: string;
  /** Private, loopback, link-local and similar: not looked up by default. */
  readonly local: boolean;
}

// Ranges no public DNSBL lists; querying them only leaks internal addresses.
const LOCAL_RANGES = new Set([
  'private',
  'loopback',
  'linkLocal',
  'uniqueLocal',
  'unspecified',
  'carrierGradeNat',
  'broadcast',
  'multicast',
]);

/**
 * ipaddr.js's IPv4 special ranges as numbers, in its order: range() names the
 * first range (in this order) with a subnet holding the address, 'unicast' if
 * none. Read from ipaddr.js itself (its prototype's table, not typed:
 * test/facts/query-name.test.ts holds the result to ipaddr.js's range()).
 */
const V4_SPECIAL: ReadonlyArray<{ readonly name: string; readonly base: number; readonly size: number }> = Object.entries(
  (ipaddr.IPv4.prototype as unknown as { SpecialRanges: Record<string, Array<[ipaddr.IPv4, number]>> }).SpecialRanges,
).flatMap(([name, subnets]) =>
  subnets.map(([network, bits]) => {
    const size = 2 ** (32 - bits);
    const value = network.octets.reduce((sum, octet) => sum * 256 + octet, 0);
    return { name, base: value - (value % size), size };
  }),
);

/** ipaddr.js's IPv4 range() of a 32-bit address, without making an IPv4 object. */
function rangeOfV4(value: number): string {
  for (const { name, base, size } of V4_SPECIAL) if (value >= base && value < base + size) return name;
  return 'unicast';
}

/**
 * A canonical dotted quad (what socketIp() hands every connection): built from
 * its numbers, no ipaddr.js object and no range() walk through it (~1 µs of a
 * connection's DNSBL start, 0.5% of the main thread in bench/'s profile).
 */
function dottedQuadClient(ip: string, value: number): ClientAddress {
  const a = Math.floor(value / 16_777_216);
  const b = (value >>> 16) & 255;
  const c = (value >>> 8) & 255;
  const d = value & 255;
  return { family: 4, address: ip, reversed: `${d}.${c}.${b}.${a}`, local: LOCAL_RANGES.has(rangeOfV4(value)) };
}

/** Parses a client address (ignoring an IPv6 zone id); null when it is not an IP. */
export function parseClientAddress(ip: string): ClientAddress | null {
  // Hot path: a dotted quad as net.isIP takes it (decimal, no leading zeros) is its own canonical text.
  const v4 = parseDottedQuad(ip, 0);
  if (v4 >= 0) return dottedQuadClient(ip, v4);
  const bare = ip.trim().replace(/%.*$/, '');
  // net.isIP is strict; ipaddr.js would also take "1.2.3" or "0x7f.1".
  const family = net.isIP(bare);
  if (family === 0) return null;
  // process() turns ::ffff:a.b.c.d into the IPv4 address a.b.c.d. A dotted
  // quad net.isIP took (decimal, no leading zeros) is built from its numbers
  // rather than parsed again (every connection comes through here).
  const parsed = family === 4 ? new ipaddr.IPv4(bare.split('.').map(Number)) : ipaddr.process(bare);
  const local = LOCAL_RANGES.has(parsed.range());
  if (parsed.kind() === 'ipv4') {
    const octets = (parsed as ipaddr.IPv4).octets;
    return { family: 4, address: octets.join('.'), reversed: [...octets].reverse().join('.'), local };
  }
  const v6 = parsed as ipaddr.IPv6;
  const nibbles = v6.parts.flatMap((part) => part.toString(16).padStart(4, '0').split(''));
  return { family: 6, address: v6.toRFC5952String(), reversed: nibbles.reverse().join('.'), local };
}

/**
 * Normalises a domain for an RHSBL lookup: lower case, IDNA (punycode), no
 * trailing dot, at least two labels. Address literals ("[1.2.3.4]") and bare
 * IPs are not domains and give null.
 */
export function normalizeDomain(text: string): string | null {
  const trimmed = text.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.startsWith('[') || net.isIP(trimmed) !== 0) return null;
  const ascii = asciiDomain(trimmed).toLowerCase();
  if (!ascii || !ascii.includes('.')) return null;
  const labels = ascii.split('.');
  if (labels.some((label) => label.length === 0 || label.length > 63 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/.test(label))) return null;
  return ascii;
}

/** Joins subject, optional key and zone; null when the result is not a legal DNS name. */
export function buildQueryName(subject: string, zone: string, key?: string): string | null {
  const name = key ? `${subject}.${key}.${zone}` : `${subject}.${zone}`;
  return name.length <= 253 ? name : null;
}

/** True when an IP zone can be asked about this client at all. */
export function zoneAccepts(client: ClientAddress, ipv6Zone: boolean): boolean {
  return client.family === 4 || ipv6Zone;
}
