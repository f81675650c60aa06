import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZoneHealth } from '../../src/facts/dnsbl/zone-health.ts';
import type { DnsblHealthSettings } from '../../src/config/dnsbl-file.ts';

const SETTINGS: DnsblHealthSettings = {
  probeInterval: 600_000,
  suspendedProbeInterval: 60_000,
  failuresToSuspend: 3,
  healthyProbesToResume: 2,
  hitRateWindow: 10,
  hitRateMinSamples: 5,
  maxHitRate: 0.8,
};

test('consecutive failures suspend; a good answer in between resets the count', () => {
  const health = new ZoneHealth(SETTINGS);
  assert.equal(health.recordQuery({ ok: false, problem: 'timeout' }, 1), undefined);
  assert.equal(health.recordQuery({ ok: false, problem: 'timeout' }, 2), undefined);
  assert.equal(health.recordQuery({ ok: true, listed: false }, 3), undefined);
  assert.equal(health.recordQuery({ ok: false, problem: 'servfail' }, 4), undefined);
  assert.equal(health.recordQuery({ ok: false, problem: 'error_code' }, 5), undefined);
  assert.deepEqual(health.recordQuery({ ok: false, problem: 'error_code' }, 6), { to: 'suspended', reason: 'error_code' });
  assert.equal(health.state, 'suspended');
  assert.equal(health.snapshot().since, 6);
  // Suspended zones are not asked; stray answers change nothing.
  assert.equal(health.recordQuery({ ok: true, listed: false }, 7), undefined);
  assert.equal(health.state, 'suspended');
});

test('a definite probe failure suspends at once; a lost probe counts like a failed query', () => {
  const health = new ZoneHealth(SETTINGS);
  assert.equal(health.recordProbe({ ok: false, problem: 'timeout', temporary: true }, 1), undefined);
  assert.equal(health.state, 'active');
  assert.deepEqual(health.recordProbe({ ok: false, problem: 'lists_everything' }, 2), { to: 'suspended', reason: 'lists_everything' });
  assert.equal(health.snapshot().lastProbe?.problem, 'lists_everything');
});

test('a suspended zone resumes after enough good probes in a row', () => {
  const health = new ZoneHealth(SETTINGS);
  health.recordProbe({ ok: false, problem: 'error_code' }, 1);
  assert.equal(health.recordProbe({ ok: true }, 2), undefined);
  assert.equal(health.recordProbe({ ok: false, problem: 'timeout', temporary: true }, 3), undefined);
  assert.equal(health.recordProbe({ ok: true }, 4), undefined);
  assert.deepEqual(health.recordProbe({ ok: true }, 5), { to: 'active', reason: 'healthy' });
  assert.equal(health.state, 'active');
  assert.equal(health.snapshot().reason, undefined);
});

test('a hit rate at the ceiling over the window suspends; below it does not', () => {
  const health = new ZoneHealth(SETTINGS);
  // 4 listed of 5 samples = 0.8: the minimum sample count is reached with the 5th.
  for (let i = 0; i < 4; i++) assert.equal(health.recordQuery({ ok: true, listed: true }, i), undefined);
  assert.equal(health.snapshot().windowHitRate, null);
  assert.deepEqual(health.recordQuery({ ok: true, listed: false }, 4), { to: 'suspended', reason: 'hit_rate' });

  const normal = new ZoneHealth(SETTINGS);
  for (let i = 0; i < 100; i++) assert.equal(normal.recordQuery({ ok: true, listed: i % 2 === 0 }, i), undefined);
  assert.equal(normal.snapshot().windowHitRate, 0.5);
  // The window slides: ten listings in a row fill it and trip the breaker.
  let transition;
  for (let i = 0; i < 10 && !transition; i++) transition = normal.recordQuery({ ok: true, listed: true }, 100 + i);
  assert.deepEqual(transition, { to: 'suspended', reason: 'hit_rate' });
});
