// PURE. Domain names compared the way DNS compares them: case-insensitive,
// with or without the trailing root dot, IDN as punycode (node:url's
// domainToASCII, the WHATWG URL host rules; "xn--" labels checked to be real
// A-labels). A name matches exactly; listing example.test does not include its
// subdomains.
import { domainToASCII } from 'node:url';
import { validAsciiDomain } from './ascii-domain.ts';

/** Normalised (lower-case, punycode, no trailing dot) domain names. */
export interface DomainSet {
  readonly size: number;
  /** The first name as listed (the default postmaster domain), when the set keeps its order. */
  readonly first?: string | undefined;
  has(domain: string): boolean;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type DomainResult = { readonly ok: true; readonly domain: string } | { readonly ok: false; readonly message: string };

/** Normalises a domain as an administrator writes it; explains what is wrong if it is not one. */
export function normaliseDomain(text: string): DomainResult {
  const withoutRoot = text.endsWith('.') ? text.slice(0, -1) : text;
  if (!withoutRoot) return { ok: false, message: `"${text}" is not a domain name` };
  if (withoutRoot.includes('*')) return { ok: false, message: `"${text}": wildcards are not supported; list each domain` };
  if (/^\[.*\]$/.test(withoutRoot) || /^[\d.]+$/.test(withoutRoot) || withoutRoot.includes(':')) {
    return { ok: false, message: `"${text}" is an address, not a domain name` };
  }
  const ascii = validAsciiDomain(withoutRoot);
  if (!ascii) return { ok: false, message: `"${text}" is not a valid domain name` };
  if (ascii.length > 253 || !ascii.split('.').every((label) => LABEL.test(label))) {
    return { ok: false, message: `"${text}" is not a valid domain name (letters, digits and hyphens; labels of 1-63 characters)` };
  }
  return { ok: true, domain: ascii };
}

/** The lookup form of a domain from an address; never throws, '' when it cannot be one of ours. */
export function domainKey(domain: string): string {
  const lower = domain.toLowerCase();
  const trimmed = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(trimmed) ? trimmed : domainToASCII(trimmed);
}

class NormalisedDomainSet implements DomainSet {
  private readonly names: ReadonlySet<string>;

  constructor(names: Iterable<string>) {
    this.names = new Set(names);
  }

  get size(): number {
    return this.names.size;
  }

  get first(): string | undefined {
    for (const name of this.names) return name;
    return undefined;
  }

  has(domain: string): boolean {
    const key = domainKey(domain);
    return key !== '' && this.names.has(key);
  }
}

/** A set of already normalised names (normaliseDomain's output). */
export function createDomainSet(names: Iterable<string>): DomainSet {
  return new NormalisedDomainSet(names);
}
