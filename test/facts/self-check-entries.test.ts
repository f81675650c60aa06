// PURE: what one self-check run makes of its answers (src/facts/dnsbl/self-check.ts
// nextEntries): only definite answers raise or clear a listing; unknown keeps
// what was last known; allow lists and IPv4-only zones for an IPv6 address
// are not entries at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextEntries } from '../../src/facts/dnsbl/self-check.ts';
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
