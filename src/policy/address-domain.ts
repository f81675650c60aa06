// PURE. The domain half of a Mailbox (RFC 5321 4.1.2): a host name or an
// address literal, normalised so that two spellings of one destination compare
// equal: lower case, one trailing dot dropped, IDN U-labels to punycode
// (A-labels, each checked to be a real one), IP literals in canonical form (IPv4-mapped IPv6 as IPv4).
// Validation happens BEFORE domainToASCII on purpose: the WHATWG host parser
// behind it percent-decodes ("ex%61mple" -> "example"), cuts at "/" and drops
// invisible characters, which would let a trick change the domain after we
// looked at it.
import { validAsciiDomain } from '../net/ascii-domain.ts';
import { normalizeIp } from '../net/ip-text.ts';
import ipaddr from 'ipaddr.js';

export type DomainProblem = 'syntax' | 'missing_domain' | 'numeric_domain' | 'too_long' | 'literal_unsupported';

export type ParsedDomain =
  | { readonly ok: true; readonly kind: 'name'; readonly domain: string }
  | { readonly ok: true; readonly kind: 'literal'; readonly domain: string; readonly ip: string }
  | { readonly ok: false; readonly problem: DomainProblem; readonly message: string };

/** RFC 5321 4.5.3.1.2: 255 octets for a domain. */
export const MAX_DOMAIN_OCTETS = 255;
const MAX_LABEL_OCTETS = 63;

// Characters a domain may be written with before IDNA mapping: LDH, dots and
// non-ASCII (U-labels, RFC 6531). Control and invisible characters were
// refused earlier, for the whole path.
const DOMAIN_CHARS = /^[A-Za-z0-9.\-\u0080-\u{10FFFF}]+$/u;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const GENERAL_LITERAL = /^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/;
// One to four dot-separated decimal or 0x-hex parts: a superset of every form
// ipaddr.js (like inet_aton) reads as IPv4. Only such names are handed to
// ipaddr.IPv4.isValid, which throws and catches an Error for everything else
// (~30 µs per ordinary domain, 4% of the relay's CPU in bench/).
const IPV4_LIKE = /^(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}$/i;

export function parseDomain(text: string): ParsedDomain {
  if (text.startsWith('[')) return parseLiteral(text);
  // One trailing dot is the DNS root, "example.com." names example.com; more is a typo or a trick.
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name === '') return { ok: false, problem: 'missing_domain', message: 'no domain after @' };
  if (!DOMAIN_CHARS.test(name)) return { ok: false, problem: 'syntax', message: 'invalid character in domain' };
  // Check labels as written: empty labels ("a..b", ".a") must not be repaired by the mapper.
  if (name.split('.').some((label) => label === '')) return { ok: false, problem: 'syntax', message: 'empty label in domain' };
  const ascii = validAsciiDomain(name);
  if (ascii === '') return { ok: false, problem: 'syntax', message: 'domain is not a valid (internationalised) name' };
  if (ascii.length > MAX_DOMAIN_OCTETS) return { ok: false, problem: 'too_long', message: `domain longer than ${MAX_DOMAIN_OCTETS} octets` };
  for (const label of ascii.split('.')) {
    if (label.length > MAX_LABEL_OCTETS) return { ok: false, problem: 'too_long', message: `domain label longer than ${MAX_LABEL_OCTETS} octets` };
    if (!LDH_LABEL.test(label)) return { ok: false, problem: 'syntax', message: 'domain label is not letters, digits and inner hyphens' };
  }
  // "user@192.0.2.1" is a domain name by grammar but means an IP: whoever
  // wrote it wanted an address literal, and a backend might treat it as one.
  if (IPV4_LIKE.test(ascii) && ipaddr.IPv4.isValid(ascii)) return { ok: false, problem: 'numeric_domain', message: 'IP address written without [brackets]' };
  return { ok: true, kind: 'name', domain: ascii };
}

function parseLiteral(text: string): ParsedDomain {
  if (!text.endsWith(']') || text.length < 3) return { ok: false, problem: 'syntax', message: 'unterminated address literal' };
  const inner = text.slice(1, -1);
  if (ipaddr.IPv4.isValidFourPartDecimal(inner)) {
    const ip = normalizeIp(inner) as string;
    return { ok: true, kind: 'literal', domain: `[${ip}]`, ip };
  }
  if (/^ipv6:/i.test(inner)) {
    const v6 = inner.slice(5);
    const ip = ipaddr.IPv6.isValid(v6) ? normalizeIp(v6) : undefined;
    if (ip === undefined) return { ok: false, problem: 'syntax', message: 'invalid IPv6 address literal' };
    // "[IPv6:::ffff:192.0.2.1]" is the IPv4 host; it is written as such so it compares equal.
    const domain = ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
    return { ok: true, kind: 'literal', domain, ip };
  }
  // RFC 5321 General-address-literal ("[tag:content]"): grammatical, but no
  // standard tag beyond IPv6 exists, so it can never be one of ours.
  if (GENERAL_LITERAL.test(inner)) return { ok: false, problem: 'literal_unsupported', message: 'unsupported address literal tag' };
  return { ok: false, problem: 'syntax', message: 'invalid address literal' };
}
