// Table-driven tests of the strict RFC 5321 path parser: every relay trick of
// the old open-relay test suites, the normalisations, and the length limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecipient, parseSender, type AddressOptions, type AddressProblem } from '../../src/policy/address.ts';
import { normalizeIp } from '../../src/net/ip-text.ts';

const options: AddressOptions = {
  ourAddresses: new Set(['192.0.2.25', '2001:db8::25']),
  localDomains: new Set(['example.test', 'xn--bcher-kva.example']),
  postmasterDomain: 'relay.example.test',
};

type Row = readonly [role: 'r' | 's', input: string, expected: string | { problem: AddressProblem }];

const ok = (address: string): string => address;
const no = (problem: AddressProblem) => ({ problem });

const label = (n: number, c = 'a'): string => c.repeat(n);
const domainOf = (octets: number): string => {
  // labels of 63 joined by dots, ending in ".test", exactly `octets` long
  const labels: string[] = [];
  let left = octets - 5;
  while (left > 0) {
    const take = Math.min(63, left - (labels.length > 0 ? 1 : 0));
    if (take <= 0) break;
    labels.push(label(take, 'd'));
    left -= take + (labels.length > 1 ? 1 : 0);
  }
  const domain = `${labels.join('.')}.test`;
  assert.equal(domain.length, octets);
  return domain;
};

const ROWS: readonly Row[] = [
  // accepted and normalised
  ['r', '<user@example.test>', ok('user@example.test')],
  ['r', 'user@example.test', ok('user@example.test')],
  ['r', ' <user@example.test>', ok('user@example.test')],
  ['r', '<user@example.test> NOTIFY=NEVER ORCPT=rfc822;user@example.test', ok('user@example.test')],
  ['r', '<User.Name+tag@EXAMPLE.TEST>', ok('User.Name+tag@example.test')],
  ['r', '<user@example.test.>', ok('user@example.test')],
  ['r', '<user@Example.Test.>', ok('user@example.test')],
  ['r', '<user@Bücher.example>', ok('user@xn--bcher-kva.example')],
  ['r', '<user@xn--bcher-kva.example>', ok('user@xn--bcher-kva.example')],
  ['r', '<user@ＥＸＡＭＰＬＥ.test>', ok('user@example.test')],
  ['r', '<ünïcödé@example.test>', ok('ünïcödé@example.test')],
  ['r', '<"john doe"@example.test>', ok('"john doe"@example.test')],
  ['r', '<"john\\"q"@example.test>', ok('"john\\"q"@example.test')],
  ['r', "<o'brien&co=x{y}~@example.test>", ok("o'brien&co=x{y}~@example.test")],
  ['r', '<user@[192.0.2.25]>', ok('user@[192.0.2.25]')],
  ['r', '<user@[IPv6:2001:DB8:0::25]>', ok('user@[IPv6:2001:db8::25]')],
  ['r', '<user@[ipv6:::ffff:192.0.2.25]>', ok('user@[192.0.2.25]')],
  ['r', '<postmaster>', ok('postmaster@relay.example.test')],
  ['r', '<Postmaster>', ok('Postmaster@relay.example.test')],
  ['r', '<user%foreign.test@other.example>', ok('user%foreign.test@other.example')],
  ['r', '<host!user@other.example>', ok('host!user@other.example')],
  ['r', `<${label(64)}@example.test>`, ok(`${label(64)}@example.test`)],
  ['r', `<u@${domainOf(251)}>`, ok(`u@${domainOf(251)}`)],
  ['s', '<>', ok('')],
  ['s', '<> SIZE=1000 BODY=8BITMIME', ok('')],
  ['s', '', ok('')],
  ['s', '<sender@Foreign.Example>', ok('sender@foreign.example')],
  ['s', '<scanner@[192.168.1.5]>', ok('scanner@[192.168.1.5]')],
  ['s', '<user%x@other.example>', ok('user%x@other.example')],
  // source routes (RFC 5321 A-d-l)
  ['r', '<@relay.test:user@foreign.test>', no('source_route')],
  ['r', '<@a.test,@b.test:user@c.test>', no('source_route')],
  ['r', '<@example.test:user@foreign.test>', no('source_route')],
  ['r', '<@[192.0.2.25]:user@foreign.test>', no('source_route')],
  ['r', '@example.test:user@foreign.test', no('source_route')],
  ['s', '<@a.test:user@b.test>', no('source_route')],
  ['r', '<@example.test>', no('syntax')],
  // more than one @ outside quotes
  ['r', '<user@foreign.test@example.test>', no('multiple_at')],
  ['r', '<user\\@foreign.test@example.test>', no('multiple_at')],
  ['r', '<"user"@foreign.test@example.test>', no('multiple_at')],
  // quoted local parts hiding routing
  ['r', '<"user@foreign.test"@example.test>', no('quoted_route')],
  ['r', '<"user\\@foreign.test"@example.test>', no('quoted_route')],
  ['r', '<"user%foreign.test"@example.test>', no('quoted_route')],
  ['r', '<"foreign.test!user"@example.test>', no('quoted_route')],
  ['r', '<"user@foreign.test"@other.example>', no('quoted_route')],
  ['r', '<"user@foreign.test"@[192.0.2.25]>', no('quoted_route')],
  ['s', '<"a@b"@other.example>', no('quoted_route')],
  // % hack and ! paths on local destinations, in every spelling of the domain
  ['r', '<user%foreign.test@example.test>', no('percent_hack')],
  ['r', '<user%foreign.test@EXAMPLE.TEST>', no('percent_hack')],
  ['r', '<user%foreign.test@example.test.>', no('percent_hack')],
  ['r', '<user%foreign.test@ＥＸＡＭＰＬＥ.test>', no('percent_hack')],
  ['r', '<user%foreign.test@bücher.example>', no('percent_hack')],
  ['r', '<user%foreign.test@[192.0.2.25]>', no('percent_hack')],
  ['r', '<user%foreign.test@[IPv6:::ffff:192.0.2.25]>', no('percent_hack')],
  ['r', '<foreign.test!user@example.test>', no('bang_path')],
  ['r', '<foreign.test!user@Example.Test.>', no('bang_path')],
  ['r', '<foreign.test!user@[192.0.2.25]>', no('bang_path')],
  ['s', '<user%foreign.test@example.test>', no('percent_hack')],
  // address literals that are not ours
  ['r', '<user@[203.0.113.1]>', no('literal_not_ours')],
  ['r', '<user%foreign.test@[203.0.113.1]>', no('literal_not_ours')],
  ['r', '<user@[IPv6:2001:db8::99]>', no('literal_not_ours')],
  ['r', '<user@[x-tag:whatever]>', no('literal_not_ours')],
  ['s', '<user@[x-tag:whatever]>', no('syntax')],
  ['r', '<user@[192.0.2]>', no('syntax')],
  ['r', '<user@[192.0.2.025]>', no('syntax')],
  ['r', '<user@[IPv6:fe80::1%eth0]>', no('syntax')],
  ['r', '<user@[IPv6:192.0.2.25]>', no('syntax')],
  ['r', '<user@[192.0.2.25>', no('syntax')],
  ['r', '<user@192.0.2.25>', no('numeric_domain')],
  // every spelling inet_aton (and ipaddr.js) reads as IPv4
  ['r', '<user@127.1>', no('numeric_domain')],
  ['r', '<user@0x7f.1>', no('numeric_domain')],
  ['r', '<user@2130706433>', no('numeric_domain')],
  ['r', '<user@0X7F.0.0.1>', no('numeric_domain')],
  // missing or empty parts
  ['r', '<>', no('null_recipient')],
  ['r', '', no('null_recipient')],
  ['r', '<user@>', no('missing_domain')],
  ['r', '<user>', no('missing_domain')],
  ['r', '<user@.>', no('missing_domain')],
  ['s', '<user@>', no('missing_domain')],
  ['s', '<postmaster>', no('missing_domain')],
  ['r', '<@>', no('syntax')],
  ['r', '<""@example.test>', no('syntax')],
  // bad syntax
  ['r', '<user@example..test>', no('syntax')],
  ['r', '<user@example.test..>', no('syntax')],
  ['r', '<user@.example.test>', no('syntax')],
  ['r', '<user@-example.test>', no('syntax')],
  ['r', '<user@example-.test>', no('syntax')],
  ['r', '<user@exa_mple.test>', no('syntax')],
  ['r', '<user@ex%61mple.test>', no('syntax')],
  ['r', '<user@example.test/foreign.test>', no('syntax')],
  ['r', '<user@example.test:25>', no('syntax')],
  ['r', '<user@foreign.test,example.test>', no('syntax')],
  ['r', '<user@xn--zz.test>', no('syntax')],
  ['r', '<.user@example.test>', no('syntax')],
  ['r', '<user.@example.test>', no('syntax')],
  ['r', '<us..er@example.test>', no('syntax')],
  ['r', '<us er@example.test>', no('syntax')],
  ['r', '<us(comment)er@example.test>', no('syntax')],
  ['r', '<"unterminated@example.test>', no('syntax')],
  ['r', '<"a"b@example.test>', no('syntax')],
  ['r', '<user@example.test', no('syntax')],
  ['r', 'user@example.test>', no('syntax')],
  ['r', '<user@example.test>garbage', no('syntax')],
  ['r', '<user@example.test> <other@foreign.test>', no('syntax')],
  ['r', '<user@example.test>,<other@foreign.test>', no('syntax')],
  ['r', '<<user@example.test>>', no('syntax')],
  ['r', 'user@example.test, other@foreign.test', no('syntax')],
  // control and invisible characters (header/log injection, spoofing)
  ['r', '<user@example.test\u0000>', no('control_char')],
  ['r', '<user@example.test>\r\nRCPT TO:<x@foreign.test>', no('control_char')],
  ['r', '<user\t@example.test>', no('control_char')],
  ['r', '<"us\u0001er"@example.test>', no('control_char')],
  ['r', '<us\u200ber@example.test>', no('control_char')],
  ['r', '<user@exa\u00admple.test>', no('control_char')],
  ['r', '<user@example.test\u202e>', no('control_char')],
  ['r', '<user@example.test\u0085>', no('control_char')],
  // length limits: 64 local, 63 label, 255 domain, 256 path
  ['r', `<${label(65)}@example.test>`, no('too_long')],
  ['r', `<${'é'.repeat(33)}@example.test>`, no('too_long')],
  ['r', `<user@${label(64)}.test>`, no('too_long')],
  ['r', `<u@${domainOf(253)}>`, no('too_long')],
  ['r', `<u@${domainOf(300)}>`, no('too_long')],
  ['r', `<${'a'.repeat(2000)}@example.test>`, no('too_long')],
];

describe('parseRecipient / parseSender', () => {
  for (const [role, input, expected] of ROWS) {
    it(`${role === 'r' ? 'RCPT' : 'MAIL'} ${JSON.stringify(input).slice(0, 90)} -> ${typeof expected === 'string' ? expected || '<>' : expected.problem}`, () => {
      const result = role === 'r' ? parseRecipient(input, options) : parseSender(input, options);
      if (typeof expected === 'string') {
        assert.ok(result.ok, `refused: ${result.ok ? '' : JSON.stringify(result.refusal)}`);
        assert.equal(result.value.address, expected);
      } else {
        assert.ok(!result.ok, `accepted as ${result.ok ? result.value.address : ''}`);
        assert.equal(result.refusal.problem, expected.problem, result.refusal.message);
      }
    });
  }

  it('keeps the quoted local part as given and exposes its text for comparisons', () => {
    const result = parseRecipient('<"john \\"j\\" doe"@Example.Test>', options);
    assert.ok(result.ok);
    assert.equal(result.value.local, '"john \\"j\\" doe"');
    assert.equal(result.value.localText, 'john "j" doe');
    assert.equal(result.value.quoted, true);
    assert.equal(result.value.domain, 'example.test');
  });

  it('marks address literals with their canonical IP', () => {
    const result = parseRecipient('<user@[IPv6:2001:0DB8::0:25]>', options);
    assert.ok(result.ok);
    assert.equal(result.value.literal, '2001:db8::25');
    const named = parseRecipient('<user@example.test>', options);
    assert.ok(named.ok);
    assert.equal(named.value.literal, undefined);
  });

  it('returns ESMTP parameters separately', () => {
    const result = parseSender('<a@other.example> SIZE=1000 BODY=8BITMIME', options);
    assert.ok(result.ok);
    assert.deepEqual(result.params, ['SIZE=1000', 'BODY=8BITMIME']);
  });

  it('refuses domainless postmaster when no postmaster domain is configured', () => {
    const result = parseRecipient('<postmaster>', { ...options, postmasterDomain: undefined });
    assert.ok(!result.ok);
    assert.equal(result.refusal.problem, 'missing_domain');
  });

  it('accepts a 256-octet path and refuses a 257-octet one', () => {
    const domain = domainOf(240);
    const fits = `${label(256 - 2 - 1 - domain.length)}@${domain}`;
    assert.equal(fits.length + 2, 256);
    assert.ok(parseRecipient(`<${fits}>`, options).ok);
    const over = parseRecipient(`<a${fits}>`, options);
    assert.ok(!over.ok);
    assert.equal(over.refusal.problem, 'too_long');
  });
});

describe('normalizeIp', () => {
  const rows: ReadonlyArray<readonly [string, string | undefined]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['fe80::1%eth0', undefined],
    ['192.0.2', undefined],
    ['example.test', undefined],
  ];
  for (const [input, expected] of rows) {
    it(`${input} -> ${expected}`, () => assert.equal(normalizeIp(input), expected));
  }
});
