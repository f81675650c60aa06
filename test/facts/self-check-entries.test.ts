// What one self-check run makes of its answers (src/facts/dnsbl/self-check.ts
// nextEntries, pure): only definite answers raise or clear a listing; unknown
// keeps what was last known; allow lists and IPv4-only zones for an IPv6
// address are not entries at all. And SelfCheck's scheduling on reload, over
// the loopback DNS server with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextEntries, SelfCheck } from '../../src/facts/dnsbl/self-check.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { checkerFor } from '../helpers/dnsbl-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { ZoneResult, ZoneStatus } from '../../src/policy/dnsbl-rule.ts';

const A = '192.0.2.25';
function result(zone: string, status: ZoneStatus, extra: Partial<ZoneResult> = {}): ZoneResult {
  return { zone, kind: 'ip', target: 'client', subject: A, weight: 1, onError: 'ignore', status, ...extra };
}
const run = (previous: Parameters<typeof nextEntries>[0], results: ZoneResult[], at: number) =>
  nextEntries(previous, results.map((r) => ({ address: A, result: r })), at);

test('a listing appears once, survives an unknown answer without a change, and clears on a clean answer', () => {
  const one = run([], [result('bl.test', 'listed', { codes: ['127.0.0.2'], text: 'see url' })], 1000);
  assert.deepEqual(one.changes.map((c) => c.kind), ['listed']);
  assert.deepEqual(one.entries[0], { address: A, zone: 'bl.test', state: 'listed', checkedAt: 1000, lastKnown: 'listed', listedSince: 1000, codes: ['127.0.0.2'], text: 'see url' });

  const again = run(one.entries, [result('bl.test', 'listed', { codes: ['127.0.0.2'] })], 2000);
  assert.deepEqual([again.changes, again.entries[0]?.listedSince], [[], 1000]);

  const timeout = run(again.entries, [result('bl.test', 'failed', { problem: 'timeout' })], 3000);
  assert.deepEqual(timeout.changes, []);
  assert.deepEqual(timeout.entries[0], { address: A, zone: 'bl.test', state: 'unknown', checkedAt: 3000, problem: 'timeout', lastKnown: 'listed', listedSince: 1000 });

  const listedAgain = run(timeout.entries, [result('bl.test', 'listed')], 4000);
  assert.deepEqual([listedAgain.changes, listedAgain.entries[0]?.listedSince], [[], 1000], 'still the same listing: no second log line');

  const clean = run(listedAgain.entries, [result('bl.test', 'clean')], 5000);
  assert.deepEqual(clean.changes.map((c) => c.kind), ['cleared']);
  assert.deepEqual(clean.entries[0], { address: A, zone: 'bl.test', state: 'clean', checkedAt: 5000, lastKnown: 'clean' });
});

test('unknown is never listed: SERVFAIL, zone problems, suspended zones', () => {
  const { entries, changes } = run([], [
    result('a.test', 'failed', { problem: 'servfail' }),
    result('b.test', 'zone_problem', { problem: 'error_code', codes: ['127.255.255.254'] }),
    result('c.test', 'suspended', { problem: 'circuit_open' }),
  ], 1);
  assert.deepEqual(changes, []);
  assert.deepEqual(entries.map((e) => [e.zone, e.state, e.problem, e.lastKnown]), [
    ['a.test', 'unknown', 'servfail', undefined],
    ['b.test', 'unknown', 'error_code', undefined],
    ['c.test', 'unknown', 'circuit_open', undefined],
  ]);
  // A clean answer after unknown ones clears nothing: nothing was ever listed.
  assert.deepEqual(run(entries, [result('a.test', 'clean')], 2).changes, []);
});

test('allow lists, RHSBL zones and IPv4-only zones asked about an IPv6 address are left out', () => {
  const { entries } = run([], [
    result('wl.test', 'listed', { weight: -1 }),
    result('rhs.test', 'clean', { kind: 'domain', target: 'helo' }),
    result('v4only.test', 'skipped', { problem: 'ipv4_only_zone' }),
    result('zero.test', 'listed', { weight: 0 }),
  ], 1);
  assert.deepEqual(entries.map((e) => e.zone), ['zero.test']);
});

test('an address or zone no longer configured drops out at the next run', () => {
  const first = run([], [result('bl.test', 'listed'), result('old.test', 'listed')], 1);
  const next = run(first.entries, [result('bl.test', 'listed')], 2);
  assert.deepEqual(next.entries.map((e) => e.zone), ['bl.test']);
  assert.deepEqual(next.changes, [], 'a zone taken out of dnsbl.toml is not a delisting');
});

test('SelfCheck over the loopback DNS server: a reload of the settings reschedules, changes the addresses, and interval 0 turns it off', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close().catch(() => undefined));
  dns.add({ name: '25.113.0.203.bl.test', type: 'A', data: '127.0.0.2' });
  const { checker, log } = checkerFor(dns, '[[zones]]\nzone = "bl.test"\ntxt = false\n');
  let settings = { addresses: ['203.0.113.25'], interval: 3_600_000 };
  let now = 1000;
  const selfCheck = new SelfCheck({ checker: () => checker, settings: () => settings, logger: log.logger, now: () => now });
  t.after(() => selfCheck.close());
  selfCheck.start();
  await waitFor(() => selfCheck.status().lastRunAt === 1000, 5000, 'the first run');
  assert.deepEqual(selfCheck.status().results.map((r) => [r.address, r.state]), [['203.0.113.25', 'listed']]);

  // Unchanged settings: update() does not run again.
  now = 2000;
  selfCheck.update();
  assert.equal(selfCheck.status().lastRunAt, 1000);
  assert.equal(dns.queries('25.113.0.203.bl.test', 'A'), 1);

  settings = { addresses: ['198.51.100.7'], interval: 3_600_000 };
  selfCheck.update();
  await waitFor(() => selfCheck.status().lastRunAt === 2000, 5000, 'the run after the reload');
  assert.deepEqual(selfCheck.status().results.map((r) => [r.address, r.state]), [['198.51.100.7', 'clean']]);

  settings = { addresses: ['198.51.100.7'], interval: 0 };
  selfCheck.update();
  assert.deepEqual(selfCheck.status(), { enabled: false, addresses: ['198.51.100.7'], intervalMs: 0, lastRunAt: 2000, results: [] });
  assert.ok(log.lines.some((l) => l.event === 'self_check.off' && /interval = 0/.test(l.msg)));
});
