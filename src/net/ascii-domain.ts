// PURE. A domain name to its ASCII (A-label) form, as node:url's
// domainToASCII gives it, with a fast path for the common case: a name that is
// already plain lower-or-upper-case letters, digits, hyphens and dots, with no
// punycode label to validate and no numeric last label (which the WHATWG host
// parser would read as an IPv4 address). That case is only lower-cased.
// domainToASCII runs the full UTS #46 mapping through a C++ call; it showed up
// at ~1% of the relay's main thread, asked three times per message.
import { domainToASCII } from 'node:url';

const PLAIN = /^[a-z0-9.-]+$/i;
const PUNYCODE_LABEL = /(^|\.)xn--/i;
const NUMERIC_LAST_LABEL = /(^|\.)(0x[0-9a-f]*|[0-9]+)\.?$/i;

/** domainToASCII(name): '' when the name is not a valid host. */
export function asciiDomain(name: string): string {
  if (PLAIN.test(name) && !PUNYCODE_LABEL.test(name) && !NUMERIC_LAST_LABEL.test(name)) return name.toLowerCase();
  return domainToASCII(name);
}
