import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionLog } from '../../src/observability/decision-log.ts';
import { DeliveryLog } from '../../src/observability/delivery-log.ts';
import { TrafficStats, type CountKey } from '../../src/observability/traffic-stats.ts';
import { defer, dunno, permit, reject, type Decision } from '../../src/policy/decision.ts';
import { decisionEvent, dnsblListed, queued, rateDeferred, relayDenied } from '../helpers/dashboard-events.ts';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const MIN = 60_000;

function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (t: number) => { now = t; } };
}

const counted = (stats: TrafficStats) => stats.snapshot().totals;

test('each decision counts as exactly what an administrator expects', () => {
  const cases: Array<{ decision: Decision; key: CountKey | null }> = [
    { decision: queued(), key: 'accepted' },
    { decision: permit('rcpt', 'relay-networks', 'relay.trusted_network'), key: null },
    { decision: permit('connect', 'allowlist', 'allowlist.listed'), key: null },
    { decision: dunno('rcpt', 'dnsbl'), key: null },
    { decision: relayDenied(), key: 'rejected' },
    { decision: reject('connect', 'denylist', 'denylist.listed', { code: 554, enhanced: '5.7.1', text: 'no' }), key: 'rejected' },
    { decision: reject('data', 'smuggling', 'data.bare_line_ending', { code: 550, enhanced: '5.6.0', text: 'no' }), key: 'rejected' },
    { decision: rateDeferred(), key: 'deferred' },
    { decision: defer('connect', 'limits', 'conn.rate', { code: 421, enhanced: '4.7.0', text: 'later' }), key: 'deferred' },
  ];
  for (const { decision, key } of cases) {
    const c = clock();
    const stats = new TrafficStats({ now: c.now });
    stats.recordDecision(decisionEvent(decision, '192.0.2.1', T0));
    const totals = counted(stats);
    for (const [k, v] of Object.entries(totals)) {
      assert.equal(v, k === key ? 1 : 0, `${decision.verdict}/${decision.stage}/${decision.reason} → ${key}: ${k}`);
    }
  }
});

test('delivery outcomes count as delivered, bounced and delivery retries', () => {
  const c = clock();
  const stats = new TrafficStats({ now: c.now });
  for (const result of ['delivered', 'delivered', 'bounced', 'deferred'] as const) {
    stats.recordDelivery({ result, at: T0, queueId: 'q1', recipient: 'a@example.org', domain: 'example.org' });
  }
  const s = stats.snapshot();
  assert.deepEqual([s.totals.delivered, s.totals.bounced, s.totals.deliveryDeferred], [2, 1, 1]);
  assert.deepEqual(s.currentMinute, s.totals);
});

test('minute buckets: the last hour slides, totals since start stay', () => {
  const c = clock(T0 + 30_000);
  const stats = new TrafficStats({ now: c.now });
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0 + 10_000));
  c.set(T0 + 5 * MIN + 1000);
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0 + 5 * MIN));
  stats.recordDecision(decisionEvent(relayDenied(), '192.0.2.9', T0 + 5 * MIN + 500));

  let s = stats.snapshot();
  assert.equal(s.minutes.length, 60);
  assert.equal(s.minutes.at(-1), T0 + 5 * MIN);
  assert.equal(s.series.accepted.at(-1), 1);
  assert.equal(s.series.accepted.at(-6), 1);
  assert.equal(s.series.rejected.at(-1), 1);
  assert.equal(s.lastHour.accepted, 2);
  assert.deepEqual(s.currentMinute.accepted, 1);

  c.set(T0 + 60 * MIN + 30_000); // the first event's minute has left the window
  s = stats.snapshot();
  assert.equal(s.lastHour.accepted, 1);
  assert.equal(s.currentMinute.accepted, 0);
  assert.equal(s.totals.accepted, 2);

  c.set(T0 + 3 * 60 * MIN);
  s = stats.snapshot();
  assert.equal(s.lastHour.accepted, 0);
  assert.equal(s.lastHour.rejected, 0);
  assert.deepEqual(s.refusals, []);
  assert.deepEqual(s.topRefused, []);
  assert.equal(s.totals.rejected, 1);
});

test('an old ring slot is recycled, never mixed with a new minute', () => {
  const c = clock(T0);
  const stats = new TrafficStats({ now: c.now, windowMinutes: 60 });
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0));
  c.set(T0 + 60 * MIN); // same slot (minute % 60), one hour later
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0 + 60 * MIN));
  const s = stats.snapshot();
  assert.equal(s.currentMinute.accepted, 1);
  assert.equal(s.lastHour.accepted, 1);
});

test('events older than the window count in totals only; events ahead of the clock land in the current minute', () => {
  const c = clock(T0 + 2 * 60 * MIN);
  const stats = new TrafficStats({ now: c.now });
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0));
  stats.recordDecision(decisionEvent(queued(), '192.0.2.1', T0 + 2 * 60 * MIN + 5 * MIN));
  const s = stats.snapshot();
  assert.equal(s.totals.accepted, 2);
  assert.equal(s.lastHour.accepted, 1);
  assert.equal(s.currentMinute.accepted, 1);
});

test('refusals by rule: per-minute series aligned with minutes, and a ranked list per rule and reason', () => {
  const c = clock(T0 + 10 * MIN);
  const stats = new TrafficStats({ now: c.now });
  stats.recordDecision(decisionEvent(dnsblListed(), '203.0.113.1', T0 + 9 * MIN));
  stats.recordDecision(decisionEvent(dnsblListed(), '203.0.113.2', T0 + 10 * MIN));
  stats.recordDecision(decisionEvent(dnsblListed(), '203.0.113.2', T0 + 10 * MIN));
  stats.recordDecision(decisionEvent(relayDenied(), '192.0.2.66', T0 + 10 * MIN));
  stats.recordDecision(decisionEvent(rateDeferred(), '198.51.100.9', T0 + 10 * MIN));
  const s = stats.snapshot();
  assert.deepEqual(s.refusals.map((r) => [r.verdict, r.rule, r.reason, r.count]), [
    ['reject', 'dnsbl', 'dnsbl.listed', 3],
    ['defer', 'limits', 'rcpt.rate', 1],
    ['reject', 'relay-networks', 'relay.denied', 1],
  ]);
  assert.deepEqual(Object.keys(s.refusedByRule).sort(), ['dnsbl', 'limits', 'relay-networks']);
  assert.equal(s.refusedByRule.dnsbl?.length, s.minutes.length);
  assert.equal(s.refusedByRule.dnsbl?.at(-1), 2);
  assert.equal(s.refusedByRule.dnsbl?.at(-2), 1);
  assert.equal(s.refusedByRule.limits?.at(-1), 1);
});

test('top refused IPs carry the latest rule and reason; the latest refusals are newest first and bounded', () => {
  const c = clock(T0 + MIN);
  const stats = new TrafficStats({ now: c.now, recentLimit: 3 });
  stats.recordDecision(decisionEvent(relayDenied(), '192.0.2.66', T0, { sender: 'x@probe.example', recipient: 'v@else.example' }));
  stats.recordDecision(decisionEvent(rateDeferred(), '192.0.2.66', T0 + 1000));
  stats.recordDecision(decisionEvent(dnsblListed(), '203.0.113.5', T0 + 2000));
  stats.recordDecision(decisionEvent(dnsblListed(), '203.0.113.6', T0 + 3000));
  const s = stats.snapshot();
  const top = s.topRefused[0];
  assert.equal(top?.ip, '192.0.2.66');
  assert.deepEqual([top?.count, top?.rejected, top?.deferred, top?.rule, top?.reason, top?.verdict], [2, 1, 1, 'limits', 'rcpt.rate', 'defer']);
  assert.deepEqual(s.recentRefusals.map((r) => r.clientIp), ['203.0.113.6', '203.0.113.5', '192.0.2.66']);
  assert.equal(s.recentRefusals[0]?.code, 554);
});

test('attach subscribes to both logs and the returned function detaches', () => {
  const c = clock();
  const stats = new TrafficStats({ now: c.now });
  const decisions = new DecisionLog();
  const deliveries = new DeliveryLog();
  const detach = stats.attach(decisions, deliveries);
  decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  deliveries.publish({ result: 'bounced', at: T0, queueId: 'q', recipient: 'a@b.example', domain: 'b.example' });
  detach();
  decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  assert.equal(counted(stats).accepted, 1);
  assert.equal(counted(stats).bounced, 1);
});
