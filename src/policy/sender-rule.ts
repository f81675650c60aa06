// PURE. May this authenticated user use this MAIL FROM address?
// (Postfix's reject_sender_login_mismatch.) users.toml grants each user a list
// of sender patterns, compiled once when the file is loaded:
//   "alice@example.com"  exactly that address
//   "*@example.com"      any address at example.com (not its subdomains)
//   "*@*.example.com"    any address at any subdomain of example.com
//   "*"                  any address, including the null sender <>
// Addresses compare case-insensitively (local part too, as Postfix's lookup
// tables do: a user who types Alice@Example.COM in a mail client is still
// Alice); domains are compared in their ASCII (punycode) form.
// An unauthenticated session is not this rule's business, and an owned address
// is no reason to accept the mail: both answer dunno. Only a mismatch decides.
import { validAsciiDomain } from './ascii-domain.ts';
import { dunno, reject, type Decision } from './decision.ts';

export const SENDER_RULE = 'sender-login';

export type SenderPattern =
  | { readonly kind: 'any'; readonly text: string }
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
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) return `sender "${text}" must be an address, *@domain, *@*.domain or *`;
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
  const addresses = new Set<string>();
  const domains = new Set<string>();
  const suffixes: string[] = [];
  for (const pattern of patterns) {
    if (pattern.kind === 'any') any = true;
    else if (pattern.kind === 'address') addresses.add(`${pattern.local}@${pattern.domain}`);
    else if (pattern.kind === 'domain') domains.add(pattern.domain);
    else suffixes.push(`.${pattern.domain}`);
  }
  return {
    matches(address: string): boolean {
      if (any) return true;
      const at = address.lastIndexOf('@');
      if (at <= 0) return false; // the null sender and bare local parts need "*"
      const domain = normalizeDomain(address.slice(at + 1));
      if (domain === null) return false;
      if (domains.has(domain)) return true;
      if (addresses.has(`${address.slice(0, at).toLowerCase()}@${domain}`)) return true;
      return suffixes.some((suffix) => domain.endsWith(suffix));
    },
  };
}

/** What the rule needs to know about the authenticated user. */
export interface SenderOwner {
  readonly name: string;
  readonly senderMatcher: SenderMatcher;
}

/**
 * The sender rule at MAIL FROM. `mailFrom` is the envelope address without
 * angle brackets ("" for the null sender); `user` is undefined when the
 * session did not authenticate.
 */
export function checkSender(user: SenderOwner | undefined, mailFrom: string): Decision {
  if (!user) return dunno('mail', SENDER_RULE);
  // A match is not a reason to accept the mail (size, quota and relay checks
  // still apply), so it is dunno, never permit: the next rule decides.
  if (user.senderMatcher.matches(mailFrom)) return dunno('mail', SENDER_RULE);
  return reject(
    'mail',
    SENDER_RULE,
    'mail.sender_not_owned',
    { code: 553, enhanced: '5.7.1', text: `Sender address rejected: not owned by user ${user.name}` },
    { user: user.name },
  );
}
