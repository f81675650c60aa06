import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RefusedIps } from '../../src/observability/refused-ips.ts';
import { decisionEvent, queued, relayDenied } from '../helpers/dashboard-events.ts';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

test('permits are not refusals', () => {
  const ips = new RefusedIps();
  ips.record(decisionEvent(queued(), '192.0.2.1', T0));
  assert.equal(ips.size, 0);
});

test('a full table keeps its heavy hitters while a flood of one-off addresses churns through it', () => {
  const ips = new RefusedIps({ maxEntries: 100 });
  for (let i = 0; i < 50; i++) ips.record(decisionEvent(relayDenied(), '192.0.2.66', T0 + i));
  for (let i = 0; i < 20; i++) ips.record(decisionEvent(relayDenied(), '192.0.2.77', T0 + i));
  for (let i = 0; i < 10_000; i++) ips.record(decisionEvent(relayDenied(), `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 + 100 + i));
  assert.ok(ips.size <= 100);
  const top = ips.top(2, T0 + 20_000);
  assert.deepEqual(top.map((r) => [r.ip, r.count]), [['192.0.2.66', 50], ['192.0.2.77', 20]]);
});

test('addresses not refused within the retention are forgotten', () => {
  const ips = new RefusedIps({ retentionMs: 60_000 });
  ips.record(decisionEvent(relayDenied(), '192.0.2.1', T0));
  ips.record(decisionEvent(relayDenied(), '192.0.2.2', T0 + 50_000));
  assert.deepEqual(ips.top(10, T0 + 70_000).map((r) => r.ip), ['192.0.2.2']);
});

test('property: the table never exceeds its cap and counts never exceed what was recorded', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 2000 }), (hosts) => {
      const ips = new RefusedIps({ maxEntries: 50 });
      const truth = new Map<string, number>();
      hosts.forEach((h, i) => {
        const ip = `198.51.${h >> 8}.${h & 255}`;
        truth.set(ip, (truth.get(ip) ?? 0) + 1);
        ips.record(decisionEvent(relayDenied(), ip, T0 + i));
      });
      assert.ok(ips.size <= 50);
      for (const r of ips.top(50, T0 + hosts.length)) assert.ok(r.count <= (truth.get(r.ip) ?? 0));
    }),
    { numRuns: 50 },
  );
});
