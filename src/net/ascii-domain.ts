// PURE. A domain name to its ASCII (A-label) form, as node:url's
// domainToASCII gives it, with a fast path for the common case: a name that is
// already plain lower-or-upper-case letters, digits, hyphens and dots, with no
// punycode label to validate and no numeric last label (which the WHATWG host
// parser would read as an IPv4 address). That case is only lower-cased.
// domainToASCII runs the full UTS #46 mapping through a C++ call; it showed up
// at ~1% of the relay's main thread, asked three times per message.
//
// Whether an "xn--" label is a real A-label is checked here, not left to
// domainToASCII: Node 24's (WHATWG URL, UTS #46 with no punycode check) passes
// "xn--zz" through where Node 20 and 22 refused it. validAsciiDomain is
// asciiDomain plus that check, for everything that refuses a name.
import { domainToASCII } from 'node:url';
// The userland punycode.js by path: a bare 'punycode' is Node's deprecated built-in.
import punycode from 'punycode/punycode.js';

const PLAIN = /^[a-z0-9.-]+$/i;
const PUNYCODE_LABEL = /(^|\.)xn--/i;
const NUMERIC_LAST_LABEL = /(^|\.)(0x[0-9a-f]*|[0-9]+)\.?$/i;
const ACE_PREFIX = 'xn--';

/** domainToASCII(name): '' when the name is not a valid host. */
export function asciiDomain(name: string): string {
  if (PLAIN.test(name) && !PUNYCODE_LABEL.test(name) && !NUMERIC_LAST_LABEL.test(name)) return name.toLowerCase();
  return domainToASCII(name);
}

/**
 * RFC 5890 2.3.2.1 and RFC 5891 5.4: an "xn--" label is an A-label only if
 * its punycode decodes to a U-label that encodes back to exactly this label
 * (lower case: DNS compares without case), that is not all ASCII (then the
 * name should have been written as it is), that keeps the hyphen rules of
 * RFC 5891 4.2.3.1 (no hyphen first or last, none in both the 3rd and 4th
 * place), and that IDNA processing (UTS #46 through domainToASCII: NFC,
 * disallowed and mapped code points, joiners, bidi) turns back into this same
 * label. `label` is lower case ASCII.
 */
export function validALabel(label: string): boolean {
  if (!label.startsWith(ACE_PREFIX)) return true;
  const encoded = label.slice(ACE_PREFIX.length);
  let decoded: string;
  try {
    decoded = punycode.decode(encoded);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  if (decoded === '' || /^[\x00-\x7f]*$/.test(decoded)) return false;
  if (decoded.startsWith('-') || decoded.endsWith('-') || decoded.slice(2, 4) === '--') return false;
  if (punycode.encode(decoded) !== encoded) return false;
  return domainToASCII(decoded) === label;
}

/** asciiDomain(name), and '' when it is not a valid host or one of its "xn--" labels is not a valid A-label. */
export function validAsciiDomain(name: string): string {
  const ascii = asciiDomain(name);
  if (ascii === '' || !ascii.includes(ACE_PREFIX)) return ascii;
  return ascii.split('.').every(validALabel) ? ascii : '';
}
