// PURE. IP address text to numbers, on the lookup path of every connection.
// Hand-written rather than ipaddr.js: ipaddr.js needs microseconds to parse
// one IPv6 address. The property tests hold these parsers to ipaddr.js on
// valid and invalid text. Conventions (shared with ipaddr.js):
// - IPv4 is four decimal numbers without leading zeros (no "10/8", no octal).
// - IPv4-mapped IPv6 (::ffff:a.b.c.d, also ::a.b.c.d) is an IPv4 client.
import ipaddr from 'ipaddr.js';

export type ClientAddress =
  | { readonly family: 4; readonly value: number }
  | { readonly family: 6; readonly value: bigint };

/** Reads "a.b.c.d" (decimal, no leading zeros) starting at `from`; -1 if it is not exactly that. */
export function parseDottedQuad(text: string, from: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero: octal in some parsers
      octet = octet * 10 + (code - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (code === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexGroup(text: string): number {
  if (text.length === 0 || text.length > 4) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const digit = code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 102 ? code - 87 : code >= 65 && code <= 70 ? code - 55 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Parses IPv6 text (RFC 4291 section 2.2: hex groups, one "::", an optional
 * trailing dotted quad, an optional %zone) into a 128-bit value; undefined if
 * invalid. Hand-written because ipaddr.js takes microseconds per address and a
 * lookup is on every connection; the property tests hold it to ipaddr.js.
 */
export function parseV6Groups(text: string): number[] | undefined {
  let rest = text;
  const zone = rest.indexOf('%');
  if (zone !== -1) {
    if (zone === rest.length - 1) return undefined;
    rest = rest.slice(0, zone);
  }
  const lastColon = rest.lastIndexOf(':');
  if (lastColon === -1) return undefined;
  let v4 = -1;
  if (rest.indexOf('.', lastColon) !== -1) {
    v4 = parseDottedQuad(rest, lastColon + 1);
    if (v4 < 0) return undefined;
    rest = `${rest.slice(0, lastColon + 1)}0:0`;
  }
  const gap = rest.indexOf('::');
  if (gap !== -1 && rest.indexOf('::', gap + 1) !== -1) return undefined;
  const head = gap === -1 ? rest : rest.slice(0, gap);
  const tail = gap === -1 ? '' : rest.slice(gap + 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const count = headGroups.length + tailGroups.length;
  if (gap === -1 ? count !== 8 : count > 7) return undefined;
  const groups: number[] = new Array(8).fill(0);
  for (let i = 0; i < headGroups.length; i++) {
    const value = hexGroup(headGroups[i] as string);
    if (value < 0) return undefined;
    groups[i] = value;
  }
  for (let i = 0; i < tailGroups.length; i++) {
    const value = hexGroup(tailGroups[i] as string);
    if (value < 0) return undefined;
    groups[8 - tailGroups.length + i] = value;
  }
  if (v4 >= 0) {
    groups[6] = Math.floor(v4 / 65536);
    groups[7] = v4 % 65536;
    // "::a.b.c.d" (RFC 4291's deprecated IPv4-compatible form) is read as the
    // IPv4 address, as ipaddr.js reads it: nobody means ::0102:0304 by it.
    if (lastColon === 1) groups[5] = 0xffff;
  }
  return groups;
}

/** The eight groups as one 128-bit value. */
export function groupsToBigInt(groups: readonly number[]): bigint {
  const word = (i: number): bigint => BigInt((groups[i] as number) * 65536 + (groups[i + 1] as number));
  return (word(0) << 96n) | (word(2) << 64n) | (word(4) << 32n) | word(6);
}

/** ::ffff:0:0/96, the IPv4-mapped range. */
export function isMappedGroups(groups: readonly number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

/** A client's IPv4 address, also written IPv4-mapped (::ffff:a.b.c.d); -1 if it is not one in dotted form. */
export function parseClientV4(ip: string): number {
  const v4 = parseDottedQuad(ip, 0);
  if (v4 >= 0) return v4;
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && ip.slice(0, 7).toLowerCase() === '::ffff:') return parseDottedQuad(ip, 7);
  return -1;
}

/**
 * A client address as the socket reports it ("192.0.2.1", "::ffff:192.0.2.1",
 * "2001:db8::1", "fe80::1%eth0"); undefined if it is not an address.
 * IPv4-mapped IPv6 comes back as IPv4.
 */
export function parseClientAddress(ip: string): ClientAddress | undefined {
  const v4 = parseClientV4(ip);
  if (v4 >= 0) return { family: 4, value: v4 };
  const groups = parseV6Groups(ip);
  if (!groups) return undefined;
  return isMappedGroups(groups)
    ? { family: 4, value: (groups[6] as number) * 65536 + (groups[7] as number) }
    : { family: 6, value: groupsToBigInt(groups) };
}

/**
 * The text of an address node:net reports for a socket (already canonical
 * from the kernel), with IPv4-mapped IPv6 as the IPv4 client it is and
 * IPv6 in lower case. Cheap: it runs at every connection. "" for none.
 */
export function socketIp(address: string | undefined): string {
  if (!address) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? (mapped[1] as string) : address.toLowerCase();
}

/**
 * Canonical text of an IP address written by anyone (a client, a policy
 * file): IPv4-mapped IPv6 becomes IPv4, IPv6 is lower-case and compressed.
 * Returns undefined for anything that is not an IP (zone ids like
 * "fe80::1%eth0" included: they never name one of our addresses).
 */
export function normalizeIp(text: string): string | undefined {
  // Already canonical (four decimal octets, no leading zero): itself, without ipaddr's parse (a replay asks per session).
  if (parseDottedQuad(text, 0) >= 0) return text;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text).toString();
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.process(text).toString();
  return undefined;
}
