// PURE. The sender patterns of users.toml, parsed once when the file is
// loaded and compiled into set lookups for the sender-login rule
// (policy/sender-rule.ts):
//   "alice@example.com"  exactly that address
//   "*@example.com"      any address at example.com (not its subdomains)
//   "*@*.example.com"    any address at any subdomain of example.com
//   "*"                  any address, including the null sender <>
//   "<>"                 the null sender <> (bounces, auto-replies, receipts)
//                        without any other address
// Addresses compare case-insensitively (local part too, as Postfix's lookup
// tables do); domains are compared in their ASCII (punycode) form.
import { validAsciiDomain } from '../net/ascii-domain.ts';

export type SenderPattern =
  | { readonly kind: 'any'; readonly text: string }
  | { readonly kind: 'null'; readonly text: string }
  | { readonly kind: 'domain'; readonly text: string; readonly domain: string }
  | { readonly kind: 'subdomains'; readonly text: string; readonly domain: string }
  | { readonly kind: 'address'; readonly text: string; readonly local: string; readonly domain: string };

/** Lower-case ASCII form of a domain, or null when it is not a plausible host name. */
function normalizeDomain(domain: string): string | null {
  const trimmed = domain.replace(/\.$/, '');
  if (trimmed === '' || /[\s@*]/.test(trimmed)) return null;
  const ascii = validAsciiDomain(trimmed.toLowerCase());
  if (ascii === '' || !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(ascii)) return null;
  return ascii;
}

/** Parses one pattern as written in users.toml; a string is the problem to report. */
export function parseSenderPattern(text: string): SenderPattern | string {
  if (text === '*') return { kind: 'any', text };
  if (text === '<>') return { kind: 'null', text };
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return `sender "${text}" must be an address, *@domain, *@*.domain, * or <>`;
  const local = text.slice(0, at);
  const domainPart = text.slice(at + 1);
  if (/\s/.test(local)) return `sender "${text}": the local part contains white space`;
  let kind: 'domain' | 'subdomains' | 'address' = 'address';
  let domainText = domainPart;
  if (local === '*') {
    kind = 'domain';
    if (domainPart.startsWith('*.')) {
      kind = 'subdomains';
      domainText = domainPart.slice(2);
    }
  }
  if ((kind === 'address' && local.includes('*')) || domainText.includes('*')) {
    return `sender "${text}": "*" may only stand for the whole local part (*@domain) or the subdomains (*@*.domain)`;
  }
  const domain = normalizeDomain(domainText);
  if (domain === null) return `sender "${text}": "${domainText}" is not a domain name`;
  if (kind === 'address') return { kind, text, local: local.toLowerCase(), domain };
  return { kind, text, domain };
}

/** A user's patterns compiled into set lookups. */
export interface SenderMatcher {
  matches(address: string): boolean;
}

export function compileSenderPatterns(patterns: readonly SenderPattern[]): SenderMatcher {
  let any = false;
  let nullSender = false;
  const addresses = new Set<string>();
  const domains = new Set<string>();
  const suffixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.kind === 'any') any = true;
    else if (pattern.kind === 'null') nullSender = true;
    else if (pattern.kind === 'address') addresses.add(`${pattern.local}@${pattern.domain}`);
    else if (pattern.kind === 'domain') domains.add(pattern.domain);
    else suffixes.push(`.${pattern.domain}`);
  }
  return {
    matches(address: string): boolean {
      if (any) return true;
      if (address === '') return nullSender;
      const at = address.lastIndexOf('@');
      if (at <= 0) return false; // bare local parts need "*"
      const domain = normalizeDomain(address.slice(at + 1));
      if (domain === null) return false;
      if (domains.has(domain)) return true;
      if (addresses.has(`${address.slice(0, at).toLowerCase()}@${domain}`)) return true;
      return suffixes.some((suffix) => domain.endsWith(suffix));
    },
  };
}
