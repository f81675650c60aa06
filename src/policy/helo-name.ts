// PURE. What a HELO/EHLO argument is, in the terms of Postfix's HELO
// restrictions: an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"; a
// bare address is taken as one too, as Postfix does), a host name (FQDN or
// not), or neither. And whether it names us.
import ipaddr from 'ipaddr.js';
import { normalizeIp, parseClientV4 } from '../net/ip-text.ts';
import type { OurIdentity } from './context.ts';

export type HeloName =
  | { readonly kind: 'address'; readonly ip: string }
  | { readonly kind: 'name'; readonly name: string; readonly fqdn: boolean }
  | { readonly kind: 'invalid' };

// Letters, digits, hyphen and underscore (Postfix's valid_hostname allows "_":
// plenty of Windows hosts have one), no hyphen at either end of a label.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function classifyHelo(text: string): HeloName {
  const helo = text.trim().toLowerCase();
  const literal = /^\[(?:ipv6:)?([^\]]+)\]$/.exec(helo);
  if (literal) {
    const inner = literal[1] as string;
    const ip = normalizeIp(inner);
    // "[IPv6:...]" must hold an IPv6 address and plain "[...]" an IPv4 one (RFC 5321 4.1.3).
    const v6Tagged = helo.startsWith('[ipv6:');
    if (ip === undefined || v6Tagged !== inner.includes(':')) return { kind: 'invalid' };
    return { kind: 'address', ip };
  }
  // Only text that could be an address goes to the parser: it throws (slowly)
  // on every ordinary host name, and this runs for every MAIL.
  const bare = /^[\d.]+$|:/.test(helo) ? normalizeIp(helo) : undefined;
  if (bare !== undefined) return { kind: 'address', ip: bare };
  const name = helo.endsWith('.') ? helo.slice(0, -1) : helo;
  if (name.length === 0 || name.length > 253) return { kind: 'invalid' };
  const labels = name.split('.');
  if (!labels.every((label) => LABEL.test(label))) return { kind: 'invalid' };
  // A top-level label of digits only is an address typed wrong, never a name.
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return { kind: 'invalid' };
  return { kind: 'name', name, fqdn: labels.length > 1 };
}

const LOCALHOST_NAMES = new Set(['localhost', 'localhost.localdomain', 'localhost6', 'localhost6.localdomain6']);

function isLoopback(ip: string): boolean {
  // The client's IPv4 address (every MAIL asks): 127.0.0.0/8, ipaddr.js's
  // "loopback" range for IPv4 (no range it checks first overlaps it), without its parse.
  const v4 = parseClientV4(ip);
  if (v4 >= 0) return v4 >>> 24 === 127;
  try {
    return ipaddr.process(ip).range() === 'loopback';
  } catch {
    return false;
  }
}

/**
 * Whether the HELO claims to be this server: our host name or another name of
 * ours, one of our addresses, or "localhost"/a loopback address from a client
 * that is not itself on loopback (a remote host is never our localhost).
 */
export function heloClaimsUs(helo: HeloName, ours: OurIdentity, ourNames: ReadonlySet<string>, clientIp: string): boolean {
  if (helo.kind === 'invalid') return false;
  const remote = !isLoopback(clientIp);
  if (helo.kind === 'address') return ours.addresses.has(helo.ip) || (remote && isLoopback(helo.ip));
  return helo.name === ours.hostname || ourNames.has(helo.name) || (remote && LOCALHOST_NAMES.has(helo.name));
}
