// PURE. Parser for policies/recipients: static recipient verification for our
// local domains (Postfix relay_recipient_maps). One entry per line:
//   user@example.test   a valid address; example.test becomes a verified domain
//   @example.test       catch-all: any local part of example.test is valid
// A local domain that appears in no entry is NOT verified: every local part is
// accepted, as before the file existed. So adding the file changes nothing
// until a domain appears in it, and one domain can be verified while another
// is not. Local parts compare case-insensitively (as Postfix's tables do:
// User@x and user@x are one entry); domains as A-labels (lower case, punycode,
// no trailing dot). Quoted local parts are not supported in the file.
// A Set of "local@domain" strings: 1,000,000 lines load in about a second.
import type { FileProblem, ParseResult } from './errors.ts';
import { normaliseDomain } from '../net/domain-set.ts';
import { splitFirstWord } from './line-file.ts';

/** What the map says about one recipient. */
export type RecipientStatus = 'unverified' | 'catch-all' | 'listed' | 'unknown';

export interface RecipientMap {
  /** Entries (addresses plus catch-alls), for `check` and reload summaries. */
  readonly size: number;
  /** `local` as the client wrote it (unquoted text), `domain` normalised (Mailbox.domain). */
  lookup(local: string, domain: string): RecipientStatus;
}

class SetRecipientMap implements RecipientMap {
  constructor(
    private readonly addresses: ReadonlySet<string>,
    private readonly verified: ReadonlySet<string>,
    private readonly catchAll: ReadonlySet<string>,
  ) {}

  get size(): number {
    return this.addresses.size + this.catchAll.size;
  }

  lookup(local: string, domain: string): RecipientStatus {
    if (this.catchAll.has(domain)) return 'catch-all';
    if (!this.verified.has(domain)) return 'unverified';
    return this.addresses.has(recipientKey(local, domain)) ? 'listed' : 'unknown';
  }
}

/** The lookup key: local part lower-cased, domain already normalised. */
export function recipientKey(local: string, domain: string): string {
  return `${local.toLowerCase()}@${domain}`;
}

export function emptyRecipientMap(): RecipientMap {
  return new SetRecipientMap(new Set(), new Set(), new Set());
}

export function parseRecipientsFile(file: string, text: string): ParseResult<RecipientMap> {
  const addresses = new Set<string>();
  const verified = new Set<string>();
  const catchAll = new Set<string>();
  const problems: FileProblem[] = [];
  // A million addresses share a handful of domains: normalise each spelling once.
  const domains = new Map<string, ReturnType<typeof normaliseDomain>>();
  // The same reading as line-file.ts's readEntryLines (BOM, CRLF/CR, # comments),
  // without an object per line: this file runs to millions of lines.
  const body = text.replace(/^\uFEFF/, '');
  const lines = body.includes('\r') ? body.split(/\r\n|\n|\r/) : body.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index]!;
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim();
    if (!content) continue;
    const line = index + 1;
    const { word, rest } = splitFirstWord(content);
    if (rest) {
      problems.push({ file, line, message: `unexpected text after the address: "${rest}" (one address per line; comments start with #)` });
      continue;
    }
    const at = word.lastIndexOf('@');
    if (at === -1) {
      problems.push({ file, line, message: `"${word}" is not an address: write user@domain, or @domain for a catch-all` });
      continue;
    }
    const local = word.slice(0, at);
    const domainText = word.slice(at + 1);
    let domain = domains.get(domainText);
    if (domain === undefined) {
      domain = normaliseDomain(domainText);
      domains.set(domainText, domain);
    }
    if (!domain.ok) {
      problems.push({ file, line, message: domain.message });
      continue;
    }
    if (local === '') {
      catchAll.add(domain.domain);
      continue;
    }
    if (local.includes('@') || local.includes('"') || local.includes('\\')) {
      problems.push({ file, line, message: `"${word}": quoted local parts and a second @ are not supported` });
      continue;
    }
    if (local.length > 64) {
      problems.push({ file, line, message: `"${word}": the local part is longer than 64 characters` });
      continue;
    }
    verified.add(domain.domain);
    addresses.add(recipientKey(local, domain.domain));
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: new SetRecipientMap(addresses, verified, catchAll) };
}
