// asciiDomain must answer exactly what node:url's domainToASCII answers; the
// fast path is only a shortcut. Table plus a property test over tricky alphabets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { asciiDomain, validALabel, validAsciiDomain } from '../../src/net/ascii-domain.ts';

test('asciiDomain agrees with domainToASCII on a table of names', () => {
  const names = [
    'example.org', 'Example.ORG', 'mail.example.org.', 'a-b.example', 'xn--bcher-kva.example', 'XN--BCHER-KVA.example',
    'xn--invalid-.example', 'bücher.example', '1.2.3.4', 'host.123', 'host.0x1f', 'host.0x', '0x7f.1', 'a.b.c.09',
    'example.org1', '-lead.example', 'trail-.example', 'a..b', '.a', 'a.', '', 'under_score.example', 'ex%61mple.org',
  ];
  for (const name of names) assert.equal(asciiDomain(name), domainToASCII(name), name);
});

test('asciiDomain agrees with domainToASCII on generated names', () => {
  const label = fc.stringMatching(/^[a-zA-Z0-9xX-]{0,8}$/);
  const name = fc.array(fc.oneof(label, fc.constantFrom('xn--', '0x', '12', 'ü', '')), { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
  fc.assert(fc.property(name, fc.boolean(), (n, dot) => asciiDomain(dot ? `${n}.` : n) === domainToASCII(dot ? `${n}.` : n)), { numRuns: 2000 });
});

// A-labels are checked by us (RFC 5890/5891), on every Node version: Node 24's
// domainToASCII passes "xn--zz" through, Node 20's passes "xn--abc-".
test('validALabel: an xn-- label is valid only when it decodes to a U-label that encodes back to it', () => {
  const valid = ['xn--bcher-kva', 'xn--zca', 'xn--mnchen-3ya', 'xn--nxasmq6b', 'xn--55qx5d', 'plain', 'xn-a'];
  const invalid = [
    'xn--', // nothing to decode
    'xn--zz', // not punycode
    'xn--0', // not punycode
    'xn--abc', // decodes to control characters
    'xn--a', // U+0080
    'xn--abc-', // decodes to "abc": all ASCII, should be written as it is
    'xn--invalid-', // likewise
    'xn--zz--', // decodes to "zz-": a hyphen last
    'xn--a-ecp', // "a⒈": IDNA maps ⒈ to "1.", not a U-label of its own
    'xn--u-ccb', // "u" + combining diaeresis: not NFC
    'xn--xn--a', // decodes to "xn-" + U+0080
  ];
  for (const label of valid) assert.equal(validALabel(label), true, label);
  for (const label of invalid) assert.equal(validALabel(label), false, label);
});

test('validAsciiDomain: asciiDomain, and "" when any label is an invalid A-label', () => {
  assert.equal(validAsciiDomain('XN--BCHER-KVA.Example'), 'xn--bcher-kva.example');
  assert.equal(validAsciiDomain('bücher.example'), 'xn--bcher-kva.example');
  assert.equal(validAsciiDomain('mail.example.org'), 'mail.example.org');
  assert.equal(validAsciiDomain('xn--zz.test'), '');
  assert.equal(validAsciiDomain('mail.xn--zz.test'), '');
  assert.equal(validAsciiDomain('xn--bcher-kva.xn--abc-'), '');
  assert.equal(validAsciiDomain('a..b'), domainToASCII('a..b'));
});

test('every A-label IDNA makes from a Unicode label passes validALabel', () => {
  // No hyphens: IDNA2008's hyphen rules (tested above) are stricter than UTS #46's.
  const label = fc.array(fc.constantFrom('a', 'z', '0', 'ü', 'ß', 'é', 'ς', 'ж', '中', 'ا', 'ب', '한', '\u200d', 'Ü', 'ﬁ'), { minLength: 1, maxLength: 8 }).map((chars) => chars.join(''));
  fc.assert(
    fc.property(label, (u) => {
      const ascii = domainToASCII(u);
      // Only the labels IDNA accepts and turns into one A-label.
      return !ascii.startsWith('xn--') || ascii.includes('.') || validALabel(ascii);
    }),
    { numRuns: 2000 },
  );
});
