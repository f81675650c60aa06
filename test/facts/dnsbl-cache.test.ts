// Caching and single-flight, counted at a real DNS server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../helpers/dns-server.ts';
import { checkerFor } from '../helpers/dnsbl-fixtures.ts';
import { evaluateDnsbl } from '../../src/policy/dnsbl-rule.ts';

const CACHE = '[cache]\nnegative_ttl = "30s"\nmin_ttl = "10s"\nmax_ttl = "1h"\n';

test('the cache stops repeated queries, for listed and not-listed clients, until the clamped TTL runs out', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '1.2.0.192.bl.test', type: 'A', data: '127.0.0.2', ttl: 60 });
  dns.add({ name: '1.2.0.192.bl.test', type: 'TXT', data: 'listed' });
  dns.add({ name: '2.2.0.192.bl.test', type: 'A', data: '127.0.0.2', ttl: 2 });
  dns.add({ name: '3.2.0.192.bl.test', type: 'A', data: '127.0.0.2', ttl: 86_400 });
  let clock = 1_000_000;
  const { checker } = checkerFor(dns, `${CACHE}[[zones]]\nzone = "bl.test"\n`, () => clock);
  const count = (ip: string, type: 'A' | 'TXT' = 'A'): number => dns.queries(`${ip.split('.').reverse().join('.')}.bl.test`, type);
  const check = async (ip: string): Promise<string> => evaluateDnsbl(await checker.check(ip), checker.policy).verdict;

  for (let i = 0; i < 5; i++) {
    assert.equal(await check('192.0.2.1'), 'reject');
    assert.equal(await check('192.0.2.4'), 'dunno');
  }
  assert.equal(count('192.0.2.1'), 1);
  assert.equal(count('192.0.2.1', 'TXT'), 1);
  assert.equal(count('192.0.2.4'), 1, 'NXDOMAIN is cached too');
  const stats = checker.stats().cache;
  assert.equal(stats.misses, 3, 'A 192.0.2.1, TXT 192.0.2.1, A 192.0.2.4');
  assert.equal(stats.hits, 4 * 3);
  assert.equal(stats.hitRatio, 12 / 15);
  assert.equal(checker.stats().zones[0]?.lookups, 10);
  assert.equal(checker.stats().zones[0]?.queries, 2);

  await check('192.0.2.2'); // TTL 2s, clamped up to min_ttl 10s
  await check('192.0.2.3'); // TTL 1 day, clamped down to max_ttl 1h
  clock += 9_000;
  await Promise.all(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map(check));
  assert.deepEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map((ip) => count(ip)), [1, 1, 1, 1]);
  clock += 2_000; // 11s: the 10s floor has passed
  await Promise.all(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map(check));
  assert.deepEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map((ip) => count(ip)), [1, 2, 1, 1]);
  clock += 20_000; // 31s: negative TTL (30s) has passed
  await check('192.0.2.4');
  assert.equal(count('192.0.2.4'), 2);
  clock += 30_000; // 61s: the 60s answer TTL has passed
  await check('192.0.2.1');
  assert.equal(count('192.0.2.1'), 2);
  clock += 3_600_000; // past the 1h ceiling
  await check('192.0.2.3');
  assert.equal(count('192.0.2.3'), 2);
});

test('failures are not cached: the next client asks again', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.servfail('1.2.0.192.bl.test');
  const { checker } = checkerFor(dns, '[[zones]]\nzone = "bl.test"\n');
  await checker.check('192.0.2.1');
  await checker.check('192.0.2.1');
  assert.equal(dns.queries('1.2.0.192.bl.test', 'A'), 2);
});

test('50 concurrent checks of one IP send one query per zone (single-flight)', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.delay('*', 40);
  dns.add({ name: '66.2.0.192.a.test', type: 'A', data: '127.0.0.2' });
  dns.add({ name: '66.2.0.192.a.test', type: 'TXT', data: 'listed in a' });
  dns.add({ name: '66.2.0.192.b.test', type: 'A', data: '127.0.0.3' });
  const { checker } = checkerFor(dns, '[[zones]]\nzone = "a.test"\n[[zones]]\nzone = "b.test"\ntxt = false\n[[zones]]\nzone = "c.test"\n');
  const checks = Array.from({ length: 50 }, () => checker.start('192.0.2.66'));
  const decisions = await Promise.all(checks.map(async (check) => evaluateDnsbl(await check.results(), checker.policy)));
  assert.ok(decisions.every((d) => d.verdict === 'reject' && d.reply?.text.endsWith('blocked using a.test, b.test; listed in a')));
  for (const zone of ['a.test', 'b.test', 'c.test']) assert.equal(dns.queries(`66.2.0.192.${zone}`, 'A'), 1, zone);
  assert.equal(dns.queries('66.2.0.192.a.test', 'TXT'), 1);
  assert.equal(dns.queries(), 4);
  const cache = checker.stats().cache;
  assert.equal(cache.misses, 4);
  assert.equal(cache.hits + cache.shared, 50 * 3 + 49 - 3);
  assert.ok(cache.shared > 0);
});

test('the cache is bounded: max_entries evicts the least recently used names', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const { checker } = checkerFor(dns, '[cache]\nmax_entries = 3\n[[zones]]\nzone = "bl.test"\n');
  for (let i = 1; i <= 5; i++) await checker.check(`192.0.2.${i}`);
  assert.equal(checker.stats().cache.size, 3);
  await checker.check('192.0.2.5');
  await checker.check('192.0.2.1');
  assert.equal(dns.queries('5.2.0.192.bl.test', 'A'), 1, 'recent: still cached');
  assert.equal(dns.queries('1.2.0.192.bl.test', 'A'), 2, 'evicted: asked again');
});
