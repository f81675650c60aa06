// npm test: own process (DNS lookups with timeouts of a few hundred ms: they timed out in a shared process under load)
// Zone health against a real DNS server: RFC 5782 probes, the circuit
// breaker, resumption, stats and loud logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { checkerFor, policyFrom } from '../helpers/dnsbl-fixtures.ts';
import { evaluateDnsbl } from '../../src/policy/dnsbl-rule.ts';
import { waitFor, watchFor } from '../helpers/wait-for.ts';

const HEALTH = '[health]\nfailures_to_suspend = 3\nhealthy_probes_to_resume = 2\nsuspended_probe_interval = "1s"\n';

function healthyZone(dns: TestDnsServer, zone: string): void {
  dns.add({ name: `2.0.0.127.${zone}`, type: 'A', data: '127.0.0.2' });
}

test('a zone answering 127.255.255.254 for everything is suspended by its probe and stops counting', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '*.broken.test', type: 'A', data: '127.255.255.254' });
  dns.add({ name: '*.everything.test', type: 'A', data: '127.0.0.2' });
  healthyZone(dns, 'good.test');
  dns.add({ name: '7.2.0.192.good.test', type: 'A', data: '127.0.0.2' });
  const { checker, log } = checkerFor(
    dns,
    `${HEALTH}[[zones]]\nzone = "broken.test"\ntxt = false\n[[zones]]\nzone = "everything.test"\ntxt = false\n[[zones]]\nzone = "good.test"\ntxt = false\n`,
  );
  // Before any probe: the zone listing everything refuses an innocent client.
  assert.equal(evaluateDnsbl(await checker.check('192.0.2.1'), checker.policy).verdict, 'reject');

  await checker.probeAll();
  const zones = checker.stats().zones;
  assert.deepEqual(
    zones.map((z) => [z.name, z.health.state, z.health.reason]),
    [
      ['broken.test', 'suspended', 'error_code'],
      ['everything.test', 'suspended', 'lists_everything'],
      ['good.test', 'active', undefined],
    ],
  );
  const errors = log.lines.filter((line) => line.level === 50).map((line) => line.msg);
  assert.equal(errors.filter((msg) => /SUSPENDED/.test(msg)).length, 2);

  dns.resetCounts();
  const innocent = await checker.check('192.0.2.1');
  assert.deepEqual(innocent.results.map((r) => r.status), ['suspended', 'suspended', 'clean']);
  assert.equal(evaluateDnsbl(innocent, checker.policy).verdict, 'dunno');
  // A client the healthy zone lists is still refused, by that zone alone.
  const listed = evaluateDnsbl(await checker.check('192.0.2.7'), checker.policy);
  assert.equal(listed.reply?.text, 'Service unavailable; client [192.0.2.7] blocked using good.test');
  assert.equal(dns.queries('1.2.0.192.broken.test') + dns.queries('7.2.0.192.broken.test') + dns.queries('1.2.0.192.everything.test'), 0);
  const broken = checker.stats().zones[0];
  assert.equal(broken?.suspendedSkips, 2);
  assert.equal(broken?.zoneProblems, 1, 'only the lookup made before the probe');
});

test('lookups that keep failing suspend a zone; good probes resume it', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '*.flaky.test', type: 'A', data: '127.255.255.254' });
  const { checker, log } = checkerFor(dns, `${HEALTH}[[zones]]\nzone = "flaky.test"\n`);
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) assert.equal((await checker.check(ip)).results[0]?.status, 'zone_problem');
  assert.equal(checker.stats().zones[0]?.health.state, 'suspended');
  assert.equal((await checker.check('192.0.2.4')).results[0]?.status, 'suspended');
  assert.equal(dns.queries('4.2.0.192.flaky.test'), 0);

  // The zone is repaired: RFC 5782 entries and NXDOMAIN for everything else.
  dns.clear();
  healthyZone(dns, 'flaky.test');
  dns.add({ name: '5.2.0.192.flaky.test', type: 'A', data: '127.0.0.2' });
  await checker.probeAll();
  assert.equal(checker.stats().zones[0]?.health.state, 'suspended', 'one good probe is not enough');
  await checker.probeAll();
  assert.equal(checker.stats().zones[0]?.health.state, 'active');
  assert.ok(log.lines.some((line) => line.level === 40 && /resumed/.test(line.msg)));
  assert.equal(evaluateDnsbl(await checker.check('192.0.2.5'), checker.policy).verdict, 'reject');
});

test('timeouts and SERVFAIL in a row suspend a zone; a missing test entry suspends at the probe', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  for (const ip of ['1', '2']) dns.timeout(`${ip}.2.0.192.slow.test`);
  dns.servfail('3.2.0.192.slow.test');
  const { checker } = checkerFor(dns, `${HEALTH}[[zones]]\nzone = "slow.test"\n[[zones]]\nzone = "gone.test"\n[[zones]]\nzone = "notest.test"\ntest_entry = false\n`);
  await Promise.all(['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((ip) => checker.check(ip)));
  await checker.probeAll();
  const zones = checker.stats().zones;
  assert.deepEqual(zones.map((z) => z.health.state), ['suspended', 'suspended', 'active']);
  assert.equal(zones[1]?.health.reason, 'test_entry_missing');
  assert.deepEqual([zones[0]?.errors, zones[0]?.timeouts], [3, 2]);
});

test('a zone whose hit rate jumps to nearly everyone is suspended', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  healthyZone(dns, 'odd.test');
  for (let i = 1; i <= 12; i++) dns.add({ name: `${i}.2.0.192.odd.test`, type: 'A', data: '127.0.0.2' });
  const { checker } = checkerFor(dns, '[health]\nhit_rate_window = 10\nhit_rate_min_samples = 10\nmax_hit_rate = 0.9\n[[zones]]\nzone = "odd.test"\ntxt = false\n');
  await checker.probeAll();
  assert.equal(checker.stats().zones[0]?.health.state, 'active', 'its probes pass');
  const verdicts = [];
  for (let i = 1; i <= 12; i++) verdicts.push(evaluateDnsbl(await checker.check(`192.0.2.${i}`), checker.policy).verdict);
  assert.deepEqual(verdicts.slice(0, 10), Array(10).fill('reject'));
  assert.deepEqual(verdicts.slice(10), ['dunno', 'dunno']);
  assert.equal(checker.stats().zones[0]?.health.reason, 'hit_rate');
});

test('startHealthChecks probes at once and again on the suspended interval; close() stops it', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const { checker } = checkerFor(dns, `${HEALTH}[[zones]]\nzone = "gone.test"\n`);
  t.after(() => checker.close());
  checker.startHealthChecks();
  const probes = (): number => checker.stats().zones[0]?.probes ?? 0;
  await waitFor(() => checker.stats().zones[0]?.health.state === 'suspended', 2000, 'the zone to be suspended');
  assert.equal(checker.stats().zones[0]?.health.reason, 'test_entry_missing');
  await waitFor(() => probes() >= 2, 3000, () => `a second probe (probed ${probes()} times)`);
  assert.ok(probes() >= 2, `probed ${probes()} times`);
  checker.close();
  // A probe already in flight still finishes: every probe started has asked its two names.
  await waitFor(() => dns.queries() >= probes() * 2, 2000, () => `${probes() * 2} probe queries (the DNS server has ${dns.queries()})`);
  const after = dns.queries();
  // A probe timer left running would fire within suspended_probe_interval (1s).
  await watchFor(() => dns.queries() > after, 1200);
  assert.equal(dns.queries(), after);
});

test('update() keeps the health and counters of unchanged zones and drops removed ones', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '*.broken.test', type: 'A', data: '127.255.255.254' });
  const { checker } = checkerFor(dns, `${HEALTH}[[zones]]\nzone = "broken.test"\n[[zones]]\nzone = "other.test"\n`);
  await checker.probeAll();
  await checker.check('192.0.2.1');
  checker.update(policyFrom(`threshold = 2\n${HEALTH}[[zones]]\nzone = "broken.test"\nweight = 2\n`));
  const zones = checker.stats().zones;
  assert.deepEqual(zones.map((z) => [z.name, z.weight, z.health.state, z.suspendedSkips]), [['broken.test', 2, 'suspended', 1]]);
  assert.equal(checker.policy.threshold, 2);
});
