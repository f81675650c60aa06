import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { buildQueryName, normalizeDomain, parseClientAddress } from '../../src/facts/dnsbl/query-name.ts';

test('client addresses become reversed labels (RFC 5782)', () => {
  const table = [
    { ip: '192.0.2.99', family: 4, address: '192.0.2.99', reversed: '99.2.0.192', local: false },
    { ip: '::ffff:192.0.2.99', family: 4, address: '192.0.2.99', reversed: '99.2.0.192', local: false },
    { ip: '::FFFF:C000:0263', family: 4, address: '192.0.2.99', reversed: '99.2.0.192', local: false },
    {
      ip: '2001:db8:1:2::3:4',
      family: 6,
      address: '2001:db8:1:2::3:4',
      reversed: '4.0.0.0.3.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2',
      local: false,
    },
    {
      ip: '2001:DB8::ABCD',
      family: 6,
      address: '2001:db8::abcd',
      reversed: 'd.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2',
      local: false,
    },
    { ip: '10.1.2.3', family: 4, address: '10.1.2.3', reversed: '3.2.1.10', local: true },
    { ip: '127.0.0.1', family: 4, address: '127.0.0.1', reversed: '1.0.0.127', local: true },
    { ip: '169.254.1.1', family: 4, address: '169.254.1.1', reversed: '1.1.254.169', local: true },
    { ip: '100.64.0.1', family: 4, address: '100.64.0.1', reversed: '1.0.64.100', local: true },
    { ip: '::ffff:192.168.1.1', family: 4, address: '192.168.1.1', reversed: '1.1.168.192', local: true },
    { ip: '::1', family: 6, address: '::1', reversed: `1${'.0'.repeat(31)}`, local: true },
    { ip: 'fe80::1%eth0', family: 6, address: 'fe80::1', reversed: `1${'.0'.repeat(27)}.0.8.e.f`, local: true },
    { ip: 'fd00::5', family: 6, address: 'fd00::5', reversed: `5${'.0'.repeat(29)}.d.f`, local: true },
  ];
  for (const row of table) {
    const parsed = parseClientAddress(row.ip);
    assert.ok(parsed, row.ip);
    assert.deepEqual({ ...parsed }, { family: row.family, address: row.address, reversed: row.reversed, local: row.local }, row.ip);
    if (parsed.family === 6) assert.equal(parsed.reversed.split('.').length, 32, row.ip);
  }
  assert.equal(parseClientAddress('not-an-ip'), null);
  assert.equal(parseClientAddress('1.2.3'), null);
});

test('a dotted quad (the fast path) gives what ipaddr.js gives: text, reversed labels, local ranges (seeded, every range edge)', () => {
  const LOCAL = new Set(['private', 'loopback', 'linkLocal', 'uniqueLocal', 'unspecified', 'carrierGradeNat', 'broadcast', 'multicast']);
  const expected = (ip: string) => {
    const parsed = ipaddr.IPv4.parse(ip);
    return { family: 4, address: parsed.toString(), reversed: [...parsed.octets].reverse().join('.'), local: LOCAL.has(parsed.range()) };
  };
  const text = (value: number) => [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
  const values: number[] = [0, 1, 0xffffffff, 0xfffffffe, 0x7f000001];
  // The first and last address of every special range ipaddr.js knows, and their neighbours outside.
  const ranges = (ipaddr.IPv4.prototype as unknown as { SpecialRanges: Record<string, Array<[ipaddr.IPv4, number]>> }).SpecialRanges;
  for (const subnets of Object.values(ranges)) {
    for (const [network, bits] of subnets) {
      const size = 2 ** (32 - bits);
      const first = network.octets.reduce((sum, octet) => sum * 256 + octet, 0);
      for (const value of [first - 1, first, first + 1, first + size - 2, first + size - 1, first + size]) if (value >= 0 && value <= 0xffffffff) values.push(value);
    }
  }
  let seed = 20_261_206;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < 20_000; i++) values.push(((next() & 0xffff) * 65_536 + (next() & 0xffff)) >>> 0);
  for (const value of values) {
    const ip = text(value);
    assert.deepEqual({ ...parseClientAddress(ip) }, expected(ip), ip);
  }
  // Not canonical dotted quads: still refused, or read the slow way as before.
  for (const ip of ['01.2.3.4', '1.2.3.256', '1.2.3.4.', ' 1.2.3.4', '1.2.3.4%eth0', '1.2.3.04']) {
    const bare = ip.trim().replace(/%.*$/, '');
    assert.deepEqual(parseClientAddress(ip) === null ? null : { ...parseClientAddress(ip) }, /^(\d{1,3})(\.(\d{1,3})){3}$/.test(bare) && ipaddr.IPv4.isValidFourPartDecimal(bare) ? expected(bare) : null, ip);
  }
});

test('domains are normalised for RHSBL lookups; literals and single labels are not domains', () => {
  const table: Array<[string, string | null]> = [
    ['Example.COM', 'example.com'],
    ['mail.example.com.', 'mail.example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['[192.0.2.1]', null],
    ['192.0.2.1', null],
    ['localhost', null],
    ['', null],
    ['bad..example', null],
    ['-bad.example', null],
    ['under_score.example', 'under_score.example'],
  ];
  for (const [input, expected] of table) assert.equal(normalizeDomain(input), expected, input);
});

test('query names put the key between subject and zone and respect the 253-octet limit', () => {
  assert.equal(buildQueryName('2.0.0.127', 'zen.test'), '2.0.0.127.zen.test');
  assert.equal(buildQueryName('2.0.0.127', 'zen.dq.test', 'k3y'), '2.0.0.127.k3y.zen.dq.test');
  assert.equal(buildQueryName(`${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example`, `${'z'.repeat(60)}.test`), null);
});
