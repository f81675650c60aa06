// asciiDomain must answer exactly what node:url's domainToASCII answers; the
// fast path is only a shortcut. Table plus a property test over tricky alphabets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { asciiDomain } from '../../src/policy/ascii-domain.ts';

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
