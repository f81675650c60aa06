// The DNSBL cache's second level (what several instances share through Redis
// in a cluster), with an in-memory SecondLevelCache here so it runs in
// `npm test`: an answer one checker got from DNS serves another without a
// query, entries written back carry the clamped TTL, failures are never
// shared, and whatever the shared level holds is checked before use.
// test/cluster/redis-store.cluster.ts runs the same through a real Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../helpers/dns-server.ts';
import { policyFrom, captureLogger } from '../helpers/dnsbl-fixtures.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { DnsblChecker } from '../../src/facts/dnsbl/dnsbl-checker.ts';
import type { SecondLevelCache } from '../../src/facts/dnsbl/dnsbl-cache.ts';
import { evaluateDnsbl } from '../../src/policy/dnsbl-rule.ts';
import type { TestDnsServer } from '../helpers/dns-server.ts';

const POLICY = '[cache]\nnegative_ttl = "30s"\nmin_ttl = "10s"\nmax_ttl = "1h"\n[[zones]]\nzone = "bl.test"\n';

/** A second level in a Map, with the clock of the test. */
function mapLevel(now: () => number): SecondLevelCache & { entries: Map<string, { value: unknown; until: number }>; writes: Array<[string, number]> } {
  const entries = new Map<string, { value: unknown; until: number }>();
  const writes: Array<[string, number]> = [];
  return {
    entries,
    writes,
    async get(key) {
      const entry = entries.get(key);
      if (!entry || entry.until <= now()) return undefined;
      return { value: entry.value, ttlMs: entry.until - now() };
    },
    set(key, value, ttlMs) {
      writes.push([key, ttlMs]);
      entries.set(key, { value: structuredClone(value), until: now() + ttlMs });
    },
  };
}

function checker(dns: TestDnsServer, second: SecondLevelCache, now: () => number): DnsblChecker {
  const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 1500, tries: 1 });
  return new DnsblChecker({ policy: policyFrom(POLICY), resolver, logger: captureLogger().logger, now, secondLevelCache: second });
}

test('an answer one instance got from DNS serves another through the second level, without a query', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '1.2.0.192.bl.test', type: 'A', data: '127.0.0.2', ttl: 2 });
  dns.add({ name: '1.2.0.192.bl.test', type: 'TXT', data: 'listed for spam' });
  let clock = 5_000_000;
  const now = (): number => clock;
  const shared = mapLevel(now);
  const a = checker(dns, shared, now);
  const b = checker(dns, shared, now);

  const first = evaluateDnsbl(await a.check('192.0.2.1'), a.policy);
  assert.equal(first.verdict, 'reject');
  assert.equal(dns.queries('1.2.0.192.bl.test', 'A'), 1);
  assert.deepEqual(shared.writes.map(([key]) => key).sort(), ['A 1.2.0.192.bl.test', 'TXT 1.2.0.192.bl.test']);
  assert.equal(shared.writes.find(([key]) => key.startsWith('A '))?.[1], 10_000, 'TTL 2s clamped up to min_ttl, as in the local cache');

  const second = evaluateDnsbl(await b.check('192.0.2.1'), b.policy);
  assert.equal(second.verdict, 'reject');
  assert.equal(second.reply?.text, first.reply?.text, 'the same reply, TXT text included');
  assert.equal(dns.queries(), 2, 'one A and one TXT query in all');
  const stats = b.stats();
  assert.equal(stats.cache.secondLevelHits, 2);
  assert.equal(stats.cache.misses, 0);
  assert.equal(stats.zones[0]?.queries, 0, 'the zone counts no query for b');

  // Past the shared entry's life both ask DNS again.
  clock += 10_001;
  await b.check('192.0.2.1');
  assert.equal(dns.queries('1.2.0.192.bl.test', 'A'), 2);
});

test('negative answers are shared; failures are not; a malformed shared entry is ignored', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const clock = 7_000_000;
  const now = (): number => clock;
  const shared = mapLevel(now);
  dns.timeout('9.2.0.192.bl.test');
  const a = checker(dns, shared, now);
  const b = checker(dns, shared, now);

  assert.equal(evaluateDnsbl(await a.check('192.0.2.4'), a.policy).verdict, 'dunno');
  assert.equal(evaluateDnsbl(await b.check('192.0.2.4'), b.policy).verdict, 'dunno');
  assert.equal(dns.queries('4.2.0.192.bl.test', 'A'), 1, 'NXDOMAIN shared for negative_ttl');
  assert.equal(shared.writes.find(([key]) => key === 'A 4.2.0.192.bl.test')?.[1], 30_000);

  await a.check('192.0.2.9'); // times out
  assert.equal(shared.entries.has('A 9.2.0.192.bl.test'), false, 'a timeout is never shared');

  shared.entries.set('A 5.2.0.192.bl.test', { value: { type: 'answers', addresses: 'not a list' }, until: clock + 60_000 });
  dns.add({ name: '5.2.0.192.bl.test', type: 'A', data: '127.0.0.2' });
  assert.equal(evaluateDnsbl(await b.check('192.0.2.5'), b.policy).verdict, 'reject', 'asked DNS instead');
  assert.equal(dns.queries('5.2.0.192.bl.test', 'A'), 1);
});
