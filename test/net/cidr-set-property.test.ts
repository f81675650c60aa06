// The CidrSet must agree with the obvious answer: scan every entry with
// ipaddr.js's own matcher and keep the most specific (first line on ties).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { parseDenylistFile } from '../../src/config/cidr-files.ts';
import { formatV4, formatV6 } from '../../src/net/cidr.ts';
import { parseClientAddress } from '../../src/net/ip-text.ts';

/** The naive reference: independent of the set's bit arithmetic. */
function naiveLookup(entries: readonly string[], ip: string): number | undefined {
  const client = ipaddr.process(ip);
  let best: { line: number; prefix: number } | undefined;
  entries.forEach((text, index) => {
    let [network, prefix] = text.includes('/') ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), text.includes(':') ? 128 : 32];
    if (network.kind() === 'ipv6' && (network as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
      network = (network as ipaddr.IPv6).toIPv4Address();
      prefix -= 96;
    }
    if (network.kind() !== client.kind() || !client.match(network, prefix)) return;
    if (!best || prefix > best.prefix) best = { line: index + 1, prefix };
  });
  return best?.line;
}

// Few distinct prefixes so that random networks nest, touch and repeat.
const v4Word = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 0x0a000000, 0x0a010000, 0x0a010200, 0xc0000200, 0xffffffff, 0x7fffffff, 0x80000000),
);
const v6Part = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 1, 0x2001, 0xdb8, 0xffff, 0x8000));

function v4Text(word: number): string {
  return [word >>> 24, (word >>> 16) & 255, (word >>> 8) & 255, word & 255].join('.');
}

function maskV4(word: number, prefix: number): number {
  return prefix === 0 ? 0 : (word & (0xffffffff << (32 - prefix))) >>> 0;
}

function maskV6(parts: number[], prefix: number): number[] {
  return parts.map((part, i) => {
    const bits = Math.max(0, Math.min(16, prefix - 16 * i));
    return bits === 0 ? 0 : part & ((0xffff << (16 - bits)) & 0xffff);
  });
}

function withHostBits(network: number[], prefix: number, fill: number[]): number[] {
  return network.map((part, i) => {
    const bits = Math.max(0, Math.min(16, prefix - 16 * i));
    const hostMask = bits === 16 ? 0 : 0xffff >> bits;
    return part | ((fill[i] ?? 0) & hostMask);
  });
}

type Net = { family: 4; word: number; prefix: number; mapped: boolean } | { family: 6; parts: number[]; prefix: number; expanded: boolean };

const v4Net = fc.record({ word: v4Word, prefix: fc.integer({ min: 0, max: 32 }), mapped: fc.boolean() }).map(
  ({ word, prefix, mapped }): Net => ({ family: 4, word: maskV4(word, prefix), prefix, mapped }),
);
const v6Net = fc.record({ parts: fc.array(v6Part, { minLength: 8, maxLength: 8 }), prefix: fc.integer({ min: 0, max: 128 }), expanded: fc.boolean() }).map(
  ({ parts, prefix, expanded }): Net => ({ family: 6, parts: maskV6(parts, prefix), prefix, expanded }),
);

function netText(net: Net): string {
  if (net.family === 4) {
    if (net.mapped) return `::ffff:${v4Text(net.word)}/${net.prefix + 96}`;
    return net.prefix === 32 ? v4Text(net.word) : `${v4Text(net.word)}/${net.prefix}`;
  }
  const address = new ipaddr.IPv6(net.parts);
  const text = net.expanded ? address.toNormalizedString() : address.toString();
  return net.prefix === 128 ? text : `${text}/${net.prefix}`;
}

/** Client addresses: random, or inside / at the edges / just outside a generated network. */
function clientArb(nets: Net[]): fc.Arbitrary<string> {
  const random4 = v4Word.map((w) => v4Text(w));
  const mapped4 = v4Word.map((w) => `::ffff:${v4Text(w)}`);
  const random6 = fc.array(v6Part, { minLength: 8, maxLength: 8 }).map((p) => new ipaddr.IPv6(p).toString());
  if (nets.length === 0) return fc.oneof(random4, mapped4, random6);
  const near = fc.record({
    net: fc.constantFrom(...nets),
    fill: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    edge: fc.constantFrom('inside', 'first', 'last', 'before', 'after'),
    mapped: fc.boolean(),
  }).map(({ net, fill, edge, mapped }) => {
    if (net.family === 4) {
      const size = 2 ** (32 - net.prefix);
      const offset = { inside: ((fill[0] ?? 0) * 65536 + (fill[1] ?? 0)) % size, first: 0, last: size - 1, before: -1, after: size }[edge];
      const word = (net.word + offset + 2 ** 32) % 2 ** 32;
      return mapped ? `::ffff:${v4Text(word)}` : v4Text(word);
    }
    const start = net.parts.reduce((v, p) => (v << 16n) | BigInt(p), 0n);
    const size = 1n << BigInt(128 - net.prefix);
    const inside = withHostBits(net.parts, net.prefix, fill).reduce((v, p) => (v << 16n) | BigInt(p), 0n);
    const value = ({ inside, first: start, last: start + size - 1n, before: start - 1n, after: start + size }[edge] + (1n << 128n)) % (1n << 128n);
    const parts: number[] = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number((value >> shift) & 0xffffn));
    return new ipaddr.IPv6(parts).toString();
  });
  return fc.oneof(near, near, random4, mapped4, random6);
}

test('CidrSet.lookup agrees with a naive scan (most specific entry, first line on ties)', () => {
  const scenario = fc
    .array(fc.oneof(v4Net, v4Net, v6Net), { maxLength: 60 })
    .chain((nets) => fc.tuple(fc.constant(nets), fc.array(clientArb(nets), { minLength: 1, maxLength: 40 })));
  fc.assert(
    fc.property(scenario, ([nets, clients]) => {
      const texts = nets.map(netText);
      const parsed = parseDenylistFile('denylist', texts.join('\n'));
      if (!parsed.ok) throw new Error(`generated list did not parse: ${JSON.stringify(parsed.problems)}`);
      for (const ip of clients) {
        assert.equal(parsed.value.lookup(ip)?.line, naiveLookup(texts, ip), `${ip} in ${JSON.stringify(texts)}`);
        assert.equal(parsed.value.contains(ip), naiveLookup(texts, ip) !== undefined);
      }
    }),
    { numRuns: 300 },
  );
});

/** One key per distinct network, whatever way it was written. */
function netKey(net: Net): string {
  return net.family === 4 ? `v4-${net.word}/${net.prefix}` : `v6-${net.parts.join('.')}/${net.prefix}`;
}

test('the same networks in any order give the same most-specific answers', () => {
  // Distinct networks only, so there are no first-line ties to depend on order.
  const scenario = fc
    .uniqueArray(fc.oneof(v4Net, v6Net), { maxLength: 40, selector: netKey })
    .chain((nets) => fc.tuple(fc.constant(nets), fc.shuffledSubarray(nets, { minLength: nets.length }), fc.array(clientArb(nets), { minLength: 1, maxLength: 20 })));
  fc.assert(
    fc.property(scenario, ([nets, shuffled, clients]) => {
      const a = parseDenylistFile('a', nets.map((n) => `${netText(n)} ${netKey(n)}`).join('\n'));
      const b = parseDenylistFile('b', shuffled.map((n) => `${netText(n)} ${netKey(n)}`).join('\n'));
      assert.ok(a.ok && b.ok);
      for (const ip of clients) assert.equal(a.value.lookup(ip)?.reason, b.value.lookup(ip)?.reason, ip);
    }),
    { numRuns: 200 },
  );
});

test('IPv6 text is read exactly as ipaddr.js reads it (valid and invalid forms)', () => {
  const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 1, maxLength: 4 });
  const group = fc.oneof({ weight: 20, arbitrary: hex }, { weight: 1, arbitrary: fc.constantFrom('', '12345', 'g', '-1', ' 1') });
  const quad = fc.tuple(...Array.from({ length: 4 }, () => fc.integer({ min: 0, max: 255 }))).map((o) => o.join('.'));
  const text = fc
    .record({
      groups: fc.array(group, { minLength: 0, maxLength: 9 }),
      gapAt: fc.option(fc.nat({ max: 9 }), { nil: undefined }),
      secondGap: fc.nat({ max: 9 }).map((n) => n === 0),
      tail: fc.option(fc.oneof({ weight: 6, arbitrary: quad }, { weight: 1, arbitrary: fc.constantFrom('1.2.3', '256.1.1.1') }), { nil: undefined }),
    })
    .map(({ groups, gapAt, secondGap, tail }) => {
      const parts = [...groups];
      if (tail !== undefined) parts.push(tail);
      let joined = parts.join(':');
      if (gapAt !== undefined) {
        const at = Math.min(gapAt, parts.length);
        joined = [...parts.slice(0, at), '', ...parts.slice(at)].join(':').replace(/^:(?!:)/, '::').replace(/(?<!:):$/, '::');
        if (secondGap) joined = `${joined}::1`;
      }
      return joined;
    })
    .filter((candidate) => candidate.includes(':')); // no colon: an IPv4 question, tested elsewhere
  fc.assert(
    fc.property(text, (ip) => {
      const mine = parseClientAddress(ip);
      const valid = ipaddr.IPv6.isValid(ip);
      assert.equal(mine !== undefined, valid, `validity of ${JSON.stringify(ip)}`);
      if (!mine) return;
      const theirs = ipaddr.process(ip);
      const shown = mine.family === 4 ? formatV4(mine.value) : formatV6(mine.value);
      assert.equal(shown, theirs.toString(), ip);
    }),
    { numRuns: 3000 },
  );
});
