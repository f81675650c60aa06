// PURE. Networks and client addresses as numbers: IPv4 as an unsigned 32-bit
// number, IPv6 as a 128-bit bigint, so a CIDR is a closed range [start, end].
//
// Decisions an administrator can rely on (the example policy files say so):
// - IPv4 is written as four decimal numbers. ipaddr.js would also read "10/8"
//   as 0.0.0.10/8 and "010.0.0.1" as octal 8.0.0.1; both are refused here.
// - A bare address is a /32 or /128.
// - Host bits set ("10.0.0.1/24") is an error naming both readings: Postfix
//   masks it silently, but in relay-networks a silent widening from one host
//   to a /24 opens the relay, so the administrator has to say which they meant.
// - IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4: a mapped client matches IPv4
//   entries, and a mapped entry with prefix >= 96 is stored as the IPv4 network.
//   An IPv6 entry wider than /96 (e.g. ::/0) covers IPv6 clients only.
//   "::a.b.c.d" is read as IPv4 too, as ipaddr.js reads it.
// Text is parsed here rather than by ipaddr.js because lookups run on every
// connection and ipaddr.js needs microseconds per IPv6 address; the property
// tests check this parser against ipaddr.js on valid and invalid text.
import ipaddr from 'ipaddr.js';

export type Network =
  | { readonly family: 4; readonly start: number; readonly end: number; readonly prefix: number }
  | { readonly family: 6; readonly start: bigint; readonly end: bigint; readonly prefix: number };

export type ClientAddress =
  | { readonly family: 4; readonly value: number }
  | { readonly family: 6; readonly value: bigint };

const ALL_V6 = (1n << 128n) - 1n;
const MAPPED_PREFIX = 0xffffn;

export function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function v6Mask(prefix: number): bigint {
  return ALL_V6 ^ ((1n << BigInt(128 - prefix)) - 1n);
}

export function formatV4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function formatV6(value: bigint): string {
  const parts: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number((value >> shift) & 0xffffn));
  return new ipaddr.IPv6(parts).toString();
}

/** Reads "a.b.c.d" (decimal, no leading zeros) starting at `from`; -1 if it is not exactly that. */
function parseDottedQuad(text: string, from: number): number {
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

function parseV6(text: string): bigint | undefined {
  const groups = parseV6Groups(text);
  return groups && groupsToBigInt(groups);
}

function isMapped(value: bigint): boolean {
  return value >> 32n === MAPPED_PREFIX;
}

/**
 * A client address as the socket reports it ("192.0.2.1", "::ffff:192.0.2.1",
 * "2001:db8::1", "fe80::1%eth0"); undefined if it is not an address.
 * IPv4-mapped IPv6 comes back as IPv4.
 */
/** A client's IPv4 address, also written IPv4-mapped (::ffff:a.b.c.d); -1 if it is not one in dotted form. */
export function parseClientV4(ip: string): number {
  const v4 = parseDottedQuad(ip, 0);
  if (v4 >= 0) return v4;
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && ip.slice(0, 7).toLowerCase() === '::ffff:') return parseDottedQuad(ip, 7);
  return -1;
}

export function parseClientAddress(ip: string): ClientAddress | undefined {
  const v4 = parseClientV4(ip);
  if (v4 >= 0) return { family: 4, value: v4 };
  const groups = parseV6Groups(ip);
  if (!groups) return undefined;
  return isMappedGroups(groups)
    ? { family: 4, value: (groups[6] as number) * 65536 + (groups[7] as number) }
    : { family: 6, value: groupsToBigInt(groups) };
}

export type NetworkResult = { readonly ok: true; readonly network: Network } | { readonly ok: false; readonly message: string };

/** Parses "192.0.2.0/24", "2001:db8::/32", "192.0.2.7", "::1" into a Network. */
export function parseNetwork(text: string): NetworkResult {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (addressText.includes('%')) return { ok: false, message: `"${text}": zone ids (%...) are not allowed in a network` };

  let family: 4 | 6;
  let value: number | bigint;
  if (addressText.includes(':')) {
    const parsed = parseV6(addressText);
    if (parsed === undefined) return { ok: false, message: `"${text}" is not an IPv6 address or network` };
    family = 6;
    value = parsed;
  } else {
    const v4 = parseDottedQuad(addressText, 0);
    if (v4 < 0) {
      return { ok: false, message: `"${text}" is not an IP address or network (IPv4 is four decimal numbers without leading zeros, e.g. 192.0.2.0/24)` };
    }
    family = 4;
    value = v4;
  }

  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return { ok: false, message: `"${text}": the prefix length must be 0-${max}` };
    }
    prefix = Number(prefixText);
  }

  if (family === 6 && isMapped(value as bigint) && prefix >= 96) {
    family = 4;
    value = Number((value as bigint) & 0xffffffffn);
    prefix -= 96;
  }

  if (family === 4) {
    const start = ((value as number) & v4Mask(prefix)) >>> 0;
    if (start !== value) return { ok: false, message: hostBitsMessage(text, formatV4(start), prefix, formatV4(value as number), 32) };
    return { ok: true, network: { family: 4, start, end: (start | ~v4Mask(prefix)) >>> 0, prefix } };
  }
  const mask = v6Mask(prefix);
  const start = (value as bigint) & mask;
  if (start !== value) return { ok: false, message: hostBitsMessage(text, formatV6(start), prefix, formatV6(value as bigint), 128) };
  return { ok: true, network: { family: 6, start, end: start | (ALL_V6 ^ mask), prefix } };
}

function hostBitsMessage(text: string, network: string, prefix: number, host: string, max: number): string {
  return `"${text}" has host bits set: write ${network}/${prefix} for the network or ${host}/${max} for the single address`;
}
