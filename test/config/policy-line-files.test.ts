import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllowlistFile, parseDenylistFile, parseRelayNetworksFile } from '../../src/config/cidr-files.ts';
import { parseLocalDomainsFile } from '../../src/config/local-domains-file.ts';
import { formatProblem } from '../../src/config/errors.ts';
import type { ParseResult } from '../../src/config/errors.ts';
import type { CidrSet, DomainSet } from '../../src/config/snapshot.ts';

function ok<T>(result: ParseResult<T>): T {
  if (!result.ok) assert.fail(`expected ok, got ${result.problems.map(formatProblem).join('; ')}`);
  return result.value;
}

function problems<T>(result: ParseResult<T>): string[] {
  assert.equal(result.ok, false, 'expected problems');
  return result.ok ? [] : result.problems.map(formatProblem);
}

test('relay-networks: comments, blank lines, CRLF, BOM, end-of-line comments', () => {
  const text = '\uFEFF# office\r\n\r\n192.0.2.0/24   # the office LAN\r\n  2001:db8:1::/48\r\n\t::1\r\n# end';
  const set: CidrSet = ok(parseRelayNetworksFile('relay-networks', text));
  assert.equal(set.size, 3);
  const rows: Array<[string, number | undefined]> = [
    ['192.0.2.77', 3],
    ['::ffff:192.0.2.77', 3],
    ['2001:db8:1:ffff::1', 4],
    ['::1', 5],
    ['192.0.3.1', undefined],
    ['2001:db8:2::1', undefined],
  ];
  for (const [ip, line] of rows) assert.equal(set.lookup(ip)?.line, line, ip);
});

test('relay-networks: every invalid line is reported with its line number', () => {
  const text = ['10.0.0.0/8', '10.0.0.1/24', 'bogus', '', '192.0.2.0/24 office', '2001:db8::/129', '# fine', '192.0.2.5'].join('\n');
  assert.deepEqual(problems(parseRelayNetworksFile('policies/relay-networks', text)), [
    'policies/relay-networks:2: "10.0.0.1/24" has host bits set: write 10.0.0.0/24 for the network or 10.0.0.1/32 for the single address',
    'policies/relay-networks:3: "bogus" is not an IP address or network (IPv4 is four decimal numbers without leading zeros, e.g. 192.0.2.0/24)',
    'policies/relay-networks:5: unexpected text after the network: "office" (one network per line; comments start with #)',
    'policies/relay-networks:6: "2001:db8::/129": the prefix length must be 0-128',
  ]);
});

test('CRLF and BOM do not shift line numbers', () => {
  const text = '\uFEFF10.0.0.0/8\r\n\r\nnope\r\n';
  assert.deepEqual(problems(parseAllowlistFile('allowlist', text)), [
    'allowlist:3: "nope" is not an IP address or network (IPv4 is four decimal numbers without leading zeros, e.g. 192.0.2.0/24)',
  ]);
});

test('allowlist: /0 covers a whole family; mapped clients match IPv4 entries only', () => {
  const set = ok(parseAllowlistFile('allowlist', '0.0.0.0/0\n'));
  assert.equal(set.contains('203.0.113.9'), true);
  assert.equal(set.contains('::ffff:203.0.113.9'), true);
  assert.equal(set.contains('2001:db8::1'), false);
  const v6 = ok(parseAllowlistFile('allowlist', '::/0\n'));
  assert.equal(v6.contains('2001:db8::1'), true);
  assert.equal(v6.contains('::ffff:203.0.113.9'), false, 'a mapped client is an IPv4 client');
  assert.equal(v6.contains('203.0.113.9'), false);
});

test('allowlist: IPv6 compressed and expanded forms are the same network', () => {
  const set = ok(parseAllowlistFile('allowlist', '2001:0db8:0000:0000:0000:0000:0000:0000/64\n2001:db8:0:1::/64\n'));
  for (const ip of ['2001:db8::1', '2001:DB8:0:0::ffff', '2001:db8:0:1:0:0:0:1']) assert.equal(set.contains(ip), true, ip);
  assert.equal(set.contains('2001:db8:0:2::1'), false);
});

test('denylist: reasons, most specific entry wins, duplicates keep the first line', () => {
  const text = [
    '198.51.100.0/24 known spam source',
    '198.51.100.128/25\tcompromised \t half  # noted 2024-01',
    '198.51.100.200',
    '198.51.100.0/24 duplicate wording',
    '::ffff:203.0.113.0/120 mapped entry',
  ].join('\n');
  const set = ok(parseDenylistFile('denylist', text));
  assert.equal(set.size, 5);
  const rows: Array<[string, number | undefined, string | undefined]> = [
    ['198.51.100.1', 1, 'known spam source'],
    ['198.51.100.129', 2, 'compromised half'],
    ['198.51.100.200', 3, undefined],
    ['::ffff:198.51.100.200', 3, undefined],
    ['203.0.113.5', 5, 'mapped entry'],
    ['198.51.101.1', undefined, undefined],
  ];
  for (const [ip, line, reason] of rows) {
    const entry = set.lookup(ip);
    assert.equal(entry?.line, line, ip);
    assert.equal(entry?.reason, reason, ip);
  }
});

test('denylist: a reason goes to the client, so it must be printable ASCII and short', () => {
  const text = ['192.0.2.0/24 spam', '192.0.3.0/24 Spam aus Köln', `192.0.4.0/24 ${'x'.repeat(201)}`, '192.0.5.0/24 \x07bell'].join('\n');
  assert.deepEqual(problems(parseDenylistFile('denylist', text)), [
    'denylist:2: the reason is sent to the client: printable ASCII only',
    'denylist:3: the reason is sent to the client: at most 200 characters',
    'denylist:4: the reason is sent to the client: printable ASCII only',
  ]);
});

test('empty and comment-only files are empty sets', () => {
  for (const text of ['', '\n\n', '# nothing\n   # still nothing\r\n', '\uFEFF']) {
    assert.equal(ok(parseRelayNetworksFile('f', text)).size, 0);
    assert.equal(ok(parseLocalDomainsFile('f', text)).size, 0);
  }
});

test('local-domains: normalised to lower case, no trailing dot, punycode', () => {
  const text = '\uFEFFExample.TEST.\r\nbücher.example  # IDN\r\nxn--mnchen-3ya.example\r\nsub.example.test\r\n';
  const set: DomainSet = ok(parseLocalDomainsFile('local-domains', text));
  assert.equal(set.size, 4);
  const rows: Array<[string, boolean]> = [
    ['example.test', true],
    ['EXAMPLE.test.', true],
    ['xn--bcher-kva.example', true],
    ['BÜCHER.example', true],
    ['münchen.example', true],
    ['sub.example.test', true],
    ['other.example.test', false],
    ['test', false],
    ['', false],
  ];
  for (const [domain, expected] of rows) assert.equal(set.has(domain), expected, domain);
});

test('local-domains: invalid names are reported with their lines', () => {
  const text = ['example.test', '*.example.test', '192.0.2.1', '[192.0.2.1]', 'a..b', '-bad.example', 'under_score.example', 'two words', 'xn--zz.example', `${'a'.repeat(64)}.example`, '.'].join('\n');
  const lines = problems(parseLocalDomainsFile('local-domains', text)).map((p) => p.split(':')[1]);
  assert.deepEqual(lines, ['2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
});
