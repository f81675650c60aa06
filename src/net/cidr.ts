// PURE. Networks (CIDRs) as numbers: IPv4 as an unsigned 32-bit
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
// Address text is read by ip-text.ts (fast, held to ipaddr.js by property tests).
import ipaddr from 'ipaddr.js';
import { groupsToBigInt, parseDottedQuad, parseV6Groups } from './ip-text.ts';

export type Network =
  | { readonly family: 4; readonly start: number; readonly end: number; readonly prefix: number }
  | { readonly family: 6; readonly start: bigint; readonly end: bigint; readonly prefix: number };

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

function parseV6(text: string): bigint | undefined {
  const groups = parseV6Groups(text);
  return groups && groupsToBigInt(groups);
}

function isMapped(value: bigint): boolean {
  return value >> 32n === MAPPED_PREFIX;
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
