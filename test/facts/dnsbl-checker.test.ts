// DnsblChecker against a real DNS server on loopback: answers, return codes,
// errors, TXT, weights, allow lists, RHSBL, IPv6, keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../helpers/dns-server.ts';
import { checkerFor, policyFrom } from '../helpers/dnsbl-fixtures.ts';
import { evaluateDnsbl } from '../../src/policy/dnsbl-rule.ts';
import { DnsblChecker } from '../../src/facts/dnsbl/dnsbl-checker.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { silentLogger } from '../../src/log/logger.ts';

const QUIET_BREAKER = '[health]\nfailures_to_suspend = 100\n';

test('return codes, error codes, foreign answers, NXDOMAIN, timeout and SERVFAIL', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '7.2.0.192.bl.test', type: 'A', data: '127.0.0.2' });
  dns.add({ name: '7.2.0.192.bl.test', type: 'TXT', data: 'Listed: see https://bl.test/q/192.0.2.7' });
  dns.add({ name: '8.2.0.192.bl.test', type: 'A', data: '127.0.0.4' });
  dns.add({ name: '8.2.0.192.bl.test', type: 'A', data: '127.0.0.10' });
  dns.add({ name: '9.2.0.192.bl.test', type: 'A', data: '127.0.0.1' });
  dns.add({ name: '10.2.0.192.bl.test', type: 'A', data: '127.255.255.254' });
  dns.add({ name: '11.2.0.192.bl.test', type: 'A', data: '93.184.216.34' });
  dns.timeout('12.2.0.192.bl.test');
  dns.servfail('13.2.0.192.bl.test');
  const { checker, log } = checkerFor(dns, `${QUIET_BREAKER}[[zones]]\nzone = "bl.test"\n`);

  const table = [
    { ip: '192.0.2.7', status: 'listed', verdict: 'reject', codes: ['127.0.0.2'] },
    { ip: '192.0.2.8', status: 'listed', verdict: 'reject', codes: ['127.0.0.4', '127.0.0.10'] },
    { ip: '192.0.2.9', status: 'clean', verdict: 'dunno' },
    { ip: '192.0.2.10', status: 'zone_problem', verdict: 'dunno', problem: 'error_code' },
    { ip: '192.0.2.11', status: 'zone_problem', verdict: 'dunno', problem: 'outside_127' },
    { ip: '192.0.2.12', status: 'failed', verdict: 'dunno', problem: 'timeout' },
    { ip: '192.0.2.13', status: 'failed', verdict: 'dunno', problem: 'servfail' },
    { ip: '192.0.2.14', status: 'clean', verdict: 'dunno' },
  ];
  for (const row of table) {
    const facts = await checker.check(row.ip);
    const [result] = facts.results;
    assert.equal(result?.status, row.status, row.ip);
    if (row.codes) assert.deepEqual(result?.codes, row.codes, row.ip);
    if (row.problem) assert.equal(result?.problem, row.problem, row.ip);
    assert.equal(evaluateDnsbl(facts, checker.policy).verdict, row.verdict, row.ip);
  }
  const listed = evaluateDnsbl(await checker.check('192.0.2.7'), checker.policy);
  assert.equal(listed.reason, 'dnsbl.listed');
  assert.equal(listed.reply?.text, 'Service unavailable; client [192.0.2.7] blocked using bl.test; Listed: see https://bl.test/q/192.0.2.7');
  // TXT is fetched for listings only.
  assert.equal(dns.queries('7.2.0.192.bl.test', 'TXT'), 1);
  for (const ip of ['9', '10', '11', '12', '13', '14']) assert.equal(dns.queries(`${ip}.2.0.192.bl.test`, 'TXT'), 0, ip);
  // Zone problems and failures are logged (warn) and counted.
  const stats = checker.stats().zones[0];
  assert.deepEqual([stats?.listed, stats?.zoneProblems, stats?.errors, stats?.timeouts], [3, 2, 2, 1]);
  const warnings = log.lines.filter((line) => line.level === 40).map((line) => line.msg);
  assert.ok(warnings.some((msg) => /error code or a foreign address/.test(msg)));
  assert.ok(warnings.some((msg) => /lookup failed/.test(msg)));
});

test('weights and threshold combine across zones; a DNSWL listing lets a listed client through', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  for (const zone of ['one.test', 'two.test']) dns.add({ name: `1.100.51.198.${zone}`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: `2.100.51.198.one.test`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: `3.100.51.198.one.test`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: `3.100.51.198.two.test`, type: 'A', data: '127.0.0.3' });
  dns.add({ name: `3.100.51.198.wl.test`, type: 'A', data: '127.0.10.2' });
  const { checker } = checkerFor(
    dns,
    `threshold = 2
[[zones]]
zone = "one.test"
txt = false
[[zones]]
zone = "two.test"
weight = 1.5
txt = false
[[zones]]
zone = "wl.test"
weight = -1
codes = ["127.0.10.0/24"]
`,
  );
  const both = evaluateDnsbl(await checker.check('198.51.100.1'), checker.policy);
  assert.equal(both.verdict, 'reject');
  assert.equal(both.reply?.text, 'Service unavailable; client [198.51.100.1] blocked using two.test, one.test');
  assert.equal(evaluateDnsbl(await checker.check('198.51.100.2'), checker.policy).verdict, 'dunno');
  const allowed = evaluateDnsbl(await checker.check('198.51.100.3'), checker.policy);
  assert.equal(allowed.verdict, 'dunno', 'score 1 + 1.5 - 1 = 1.5 < 2');
  assert.equal(allowed.detail?.score, 1.5);
});

test('RHSBL: HELO name and sender domain, once each zone; address literals are not looked up', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: 'spammy.example.dbl.test', type: 'A', data: '127.0.1.2' });
  dns.add({ name: 'spammy.example.dbl.test', type: 'TXT', data: 'domain listed' });
  const { checker } = checkerFor(
    dns,
    `[[zones]]
zone = "dbl.test"
kind = "domain"
codes = ["127.0.1.0/24"]
reply = "{domain} is listed by {zone}: {txt}"
`,
  );
  const check = checker.start('192.0.2.50', { helo: '[192.0.2.50]' });
  check.sender('Someone@Spammy.Example');
  const facts = await check.results();
  assert.deepEqual(
    facts.results.map((r) => [r.target, r.subject, r.status]),
    [['sender', 'spammy.example', 'listed']],
  );
  const decision = evaluateDnsbl(facts, checker.policy);
  assert.equal(decision.reason, 'rhsbl.listed');
  assert.match(decision.reply?.text ?? '', /blocked using dbl\.test; spammy\.example is listed by dbl\.test: domain listed$/);

  const viaHelo = checker.start('192.0.2.51');
  viaHelo.helo('spammy.example');
  viaHelo.sender('clean.example');
  const heloFacts = await viaHelo.results();
  assert.deepEqual(heloFacts.results.map((r) => [r.target, r.status]), [['helo', 'listed'], ['sender', 'clean']]);
  assert.equal(evaluateDnsbl(heloFacts, checker.policy).reason, 'rhsbl.listed');
  // A new transaction replaces the sender lookups.
  viaHelo.sender(undefined);
  assert.deepEqual((await viaHelo.results()).results.map((r) => r.target), ['helo']);
});

test('IPv6 clients are asked by nibbles in ipv6 zones only; mapped IPv4 is asked as IPv4', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const nibbles = '2.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';
  dns.add({ name: `${nibbles}.v6.test`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: '7.2.0.192.v4.test', type: 'A', data: '127.0.0.2' });
  const { checker } = checkerFor(dns, '[[zones]]\nzone = "v6.test"\nipv6 = true\ntxt = false\n[[zones]]\nzone = "v4.test"\ntxt = false\n');
  const facts = await checker.check('2001:db8::1:2');
  assert.equal(facts.clientIp, '2001:db8::1:2');
  assert.deepEqual(facts.results.map((r) => [r.zone, r.status, r.problem]), [['v6.test', 'listed', undefined], ['v4.test', 'skipped', 'ipv4_only_zone']]);
  assert.equal(dns.queries(`${nibbles}.v6.test`, 'A'), 1);
  assert.equal(evaluateDnsbl(facts, checker.policy).reply?.text, 'Service unavailable; client [2001:db8::1:2] blocked using v6.test');
  const mapped = await checker.check('::ffff:192.0.2.7');
  assert.equal(mapped.clientIp, '192.0.2.7');
  assert.deepEqual(mapped.results.map((r) => [r.zone, r.status]), [['v6.test', 'clean'], ['v4.test', 'listed']]);
  assert.equal(dns.queries('7.2.0.192.v4.test', 'A'), 1);
});

test('private, loopback and link-local clients are not looked up unless check_private_clients is on', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '1.0.0.127.bl.test', type: 'A', data: '127.0.0.2' });
  const zone = '[[zones]]\nzone = "bl.test"\ntxt = false\n';
  const off = checkerFor(dns, zone).checker;
  for (const ip of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '169.254.0.1', '::1', 'fe80::1']) {
    assert.deepEqual((await off.check(ip)).results.map((r) => r.status), ['skipped'], ip);
  }
  assert.equal(dns.queries(), 0);
  const on = checkerFor(dns, `check_private_clients = true\n${zone}`).checker;
  assert.equal(evaluateDnsbl(await on.check('127.0.0.1'), on.policy).verdict, 'reject');
  assert.equal(dns.queries('1.0.0.127.bl.test', 'A'), 1);
});

test('on_error = "defer" turns a timeout into 451 4.7.1', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.timeout('5.2.0.192.strict.test');
  const { checker } = checkerFor(dns, '[[zones]]\nzone = "strict.test"\non_error = "defer"\n');
  const decision = evaluateDnsbl(await checker.check('192.0.2.5'), checker.policy);
  assert.equal(decision.verdict, 'defer');
  assert.equal(decision.reason, 'dnsbl.temp_fail');
  assert.deepEqual([decision.reply?.code, decision.reply?.enhanced], [451, '4.7.1']);
  assert.equal(checker.stats().zones[0]?.timeouts, 1);
});

test('a query key in the zone never reaches replies, decision details, logs or stats', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const key = 'k3y9a8b7c6d5e4f3g2h1';
  dns.add({ name: `7.2.0.192.${key}.zen.dq.test`, type: 'A', data: '127.0.0.2' });
  dns.add({ name: `7.2.0.192.${key}.zen.dq.test`, type: 'TXT', data: `7.2.0.192.${key}.zen.dq.test listed, key ${key.toUpperCase()}` });
  dns.add({ name: `8.2.0.192.${key}.zen.dq.test`, type: 'A', data: '127.255.255.254' });
  dns.timeout(`9.2.0.192.${key}.zen.dq.test`);
  const { checker, log } = checkerFor(dns, `[[zones]]\nzone = "zen.dq.test"\nkey = "${key}"\nname = "zen"\n`);
  const decision = evaluateDnsbl(await checker.check('192.0.2.7'), checker.policy);
  assert.equal(decision.verdict, 'reject');
  assert.equal(decision.reply?.text, 'Service unavailable; client [192.0.2.7] blocked using zen; 7.2.0.192.zen listed, key ...');
  await checker.check('192.0.2.8');
  await checker.check('192.0.2.9');
  await checker.probeAll();
  const everything = JSON.stringify([decision, checker.stats()]) + log.text();
  assert.ok(log.lines.length > 0);
  assert.equal(everything.toLowerCase().includes(key), false);
});

test('onQuery sees every DNS query sent for a client, not cache hits; stats count latency', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '7.2.0.192.bl.test', type: 'A', data: '127.0.0.2' });
  const seen: string[] = [];
  const checker = new DnsblChecker({
    policy: policyFrom('[[zones]]\nzone = "bl.test"\ntxt = false\n'),
    resolver: createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 1500, tries: 1 }),
    logger: silentLogger(),
    onQuery: (event) => void seen.push(`${event.zone}:${event.outcome}`),
  });
  await checker.check('192.0.2.7');
  await checker.check('192.0.2.7');
  await checker.check('192.0.2.8');
  assert.deepEqual(seen, ['bl.test:listed', 'bl.test:clean']);
  const zone = checker.stats().zones[0];
  assert.deepEqual([zone?.lookups, zone?.queries, zone?.listed, zone?.latency.count], [3, 2, 2, 2]);
  assert.equal(zone?.latency.buckets.at(-1), 2, 'cumulative buckets end with the total');
  assert.equal(zone?.hitRate, 2 / 3);
});
