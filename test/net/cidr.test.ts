import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetwork, formatV4, formatV6 } from '../../src/net/cidr.ts';
import { parseClientAddress } from '../../src/net/ip-text.ts';

function describe(text: string): string {
  const result = parseNetwork(text);
  if (!result.ok) return 'error';
  const { network } = result;
  return network.family === 4
    ? `v4 ${formatV4(network.start)}-${formatV4(network.end)} /${network.prefix}`
    : `v6 ${formatV6(network.start)}-${formatV6(network.end)} /${network.prefix}`;
}

test('networks as administrators write them', () => {
  const rows: Array<[string, string]> = [
    ['192.0.2.0/24', 'v4 192.0.2.0-192.0.2.255 /24'],
    ['192.0.2.7', 'v4 192.0.2.7-192.0.2.7 /32'],
    ['0.0.0.0/0', 'v4 0.0.0.0-255.255.255.255 /0'],
    ['255.255.255.255/32', 'v4 255.255.255.255-255.255.255.255 /32'],
    ['10.0.0.0/08', 'v4 10.0.0.0-10.255.255.255 /8'],
    ['::1', 'v6 ::1-::1 /128'],
    ['::/0', 'v6 ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff /0'],
    ['2001:DB8::/32', 'v6 2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff /32'],
    ['2001:db8:0:0:0:0:0:0/48', 'v6 2001:db8::-2001:db8:0:ffff:ffff:ffff:ffff:ffff /48'],
    ['2001:0db8:0000::0001', 'v6 2001:db8::1-2001:db8::1 /128'],
    ['fe80::/10', 'v6 fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff /10'],
    // IPv4-mapped entries are IPv4 networks
    ['::ffff:192.0.2.0/120', 'v4 192.0.2.0-192.0.2.255 /24'],
    ['::ffff:192.0.2.1', 'v4 192.0.2.1-192.0.2.1 /32'],
    ['::ffff:c000:0201', 'v4 192.0.2.1-192.0.2.1 /32'],
    ['::ffff:0:0/96', 'v4 0.0.0.0-255.255.255.255 /0'],
    ['::192.0.2.0/120', 'v4 192.0.2.0-192.0.2.255 /24'],
    ['1:2:3:4:5:6:192.0.2.1', 'v6 1:2:3:4:5:6:c000:201-1:2:3:4:5:6:c000:201 /128'],
    // wider than /96 stays IPv6
    ['::/64', 'v6 ::-::ffff:ffff:ffff:ffff /64'],
  ];
  for (const [text, expected] of rows) assert.equal(describe(text), expected, text);
});

test('invalid networks are refused with a reason', () => {
  const rows: Array<[string, RegExp]> = [
    ['10.0.0.1/24', /host bits set: write 10\.0\.0\.0\/24 for the network or 10\.0\.0\.1\/32/],
    ['2001:db8::1/32', /host bits set: write 2001:db8::\/32 .* 2001:db8::1\/128/],
    ['::ffff:192.0.2.1/120', /host bits set: write 192\.0\.2\.0\/24/],
    ['10/8', /four decimal numbers/],
    ['010.0.0.1', /leading zeros/],
    ['1.2.3', /not an IP address/],
    ['1.2.3.4.5', /not an IP address/],
    ['256.0.0.0', /not an IP address/],
    ['1.2.3.4/33', /prefix length must be 0-32/],
    ['::/129', /prefix length must be 0-128/],
    ['1.2.3.4/', /prefix length/],
    ['1.2.3.4/-1', /prefix length/],
    ['1.2.3.4/24/8', /prefix length/],
    ['fe80::1%eth0', /zone ids/],
    ['2001:db8:::1', /not an IPv6/],
    ['::ffff:010.0.0.1', /not an IPv6/],
    ['example.com', /not an IP address/],
    ['0x0a000000', /not an IP address/],
  ];
  for (const [text, pattern] of rows) {
    const result = parseNetwork(text);
    assert.equal(result.ok, false, text);
    if (!result.ok) assert.match(result.message, pattern, text);
  }
});

test('client addresses as sockets report them; mapped IPv6 is IPv4', () => {
  const rows: Array<[string, string | undefined]> = [
    ['192.0.2.1', '4:192.0.2.1'],
    ['::ffff:192.0.2.1', '4:192.0.2.1'],
    ['::FFFF:192.0.2.1', '4:192.0.2.1'],
    ['::ffff:c000:201', '4:192.0.2.1'],
    ['0:0:0:0:0:ffff:c000:0201', '4:192.0.2.1'],
    ['::192.0.2.1', '4:192.0.2.1'],
    ['2001:db8::1', '6:2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '6:2001:db8::1'],
    ['2001:db8::1::2', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7', undefined],
    ['12345::', undefined],
    ['fe80::1%', undefined],
    ['fe80::1%eth0', '6:fe80::1'],
    ['::', '6:::'],
    ['', undefined],
    ['192.0.2', undefined],
    ['192.0.2.01', undefined],
    ['not-an-ip', undefined],
    ['::ffff:1.2.3', undefined],
  ];
  for (const [ip, expected] of rows) {
    const address = parseClientAddress(ip);
    const seen = address === undefined ? undefined : address.family === 4 ? `4:${formatV4(address.value)}` : `6:${formatV6(address.value)}`;
    assert.equal(seen, expected, ip);
  }
});
