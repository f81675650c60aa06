import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionLog } from '../../src/observability/decision-log.ts';
import { DeliveryLog } from '../../src/observability/delivery-log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { decisionEvent, queued, relayDenied, sourcesFrom, sourceState } from '../helpers/dashboard-events.ts';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** The value of one sample line, e.g. sample(text, 'relayguard_queue_messages'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function setup() {
  const decisions = new DecisionLog();
  const deliveries = new DeliveryLog();
  const state = sourceState(T0);
  const metrics = createMetrics({ sources: sourcesFrom(state, T0 - 1000), decisions, deliveries, now: () => T0 + 90_000, processMetrics: false });
  return { decisions, deliveries, state, metrics };
}

test('decision and delivery counters follow the logs', async () => {
  const { decisions, deliveries, metrics } = setup();
  decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  decisions.publish(decisionEvent(relayDenied(), '192.0.2.9', T0));
  decisions.publish(decisionEvent(relayDenied(), '192.0.2.9', T0));
  deliveries.publish({ result: 'delivered', at: T0, queueId: 'q', recipient: 'a@example.org', domain: 'example.org' });
  const text = await metrics.render();
  assert.equal(sample(text, 'relayguard_decisions_total{stage="data",verdict="permit",rule="spool",reason="data.queued"}'), 1);
  assert.equal(sample(text, 'relayguard_decisions_total{stage="rcpt",verdict="reject",rule="relay-networks",reason="relay.denied"}'), 2);
  assert.equal(sample(text, 'relayguard_delivery_total{result="delivered"}'), 1);
  assert.equal(sample(text, 'relayguard_delivery_total{result="bounced"}'), 0);
  metrics.close();
  decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  assert.equal(sample(await metrics.render(), 'relayguard_decisions_total{stage="data",verdict="permit",rule="spool",reason="data.queued"}'), 1);
});

test('gauges and zone counters are read from the sources at scrape time', async () => {
  const { state, metrics } = setup();
  state.queue = { size: 7, oldestReceivedAt: T0, deferredByDomain: [{ domain: 'slow.example', count: 4 }] };
  state.zones = [{ zone: 'zen.test', queries: 10, listed: 3, errors: 1, timeouts: 2, meanLatencyMs: 25, suspended: true }];
  state.cache = { hits: 3, misses: 1 };
  state.reload = { at: T0, ok: false, generation: 4, errors: [{ file: 'policies/denylist', line: 2, message: 'bad' }] };
  state.ready = { listeners: true, spoolWritable: false };
  const text = await metrics.render();
  const expected: Record<string, number> = {
    relayguard_queue_messages: 7,
    relayguard_queue_oldest_age_seconds: 90,
    'relayguard_queue_deferred_messages{domain="slow.example"}': 4,
    'relayguard_dnsbl_queries_total{zone="zen.test"}': 10,
    'relayguard_dnsbl_listed_total{zone="zen.test"}': 3,
    'relayguard_dnsbl_errors_total{zone="zen.test"}': 1,
    'relayguard_dnsbl_timeouts_total{zone="zen.test"}': 2,
    'relayguard_dnsbl_latency_mean_seconds{zone="zen.test"}': 0.025,
    'relayguard_dnsbl_zone_suspended{zone="zen.test"}': 1,
    relayguard_dnsbl_cache_hits_total: 3,
    relayguard_dnsbl_cache_misses_total: 1,
    relayguard_dnsbl_cache_hit_ratio: 0.75,
    relayguard_policy_reload_success: 0,
    relayguard_policy_reload_timestamp_seconds: T0 / 1000,
    relayguard_policy_generation: 4,
    'relayguard_ready{check="listeners"}': 1,
    'relayguard_ready{check="spool_writable"}': 0,
    'relayguard_info{instance="relay-test",version="0.1.0"}': 1,
  };
  for (const [series, value] of Object.entries(expected)) assert.equal(sample(text, series), value, series);

  state.zones = [{ zone: 'zen.test', queries: 12, listed: 3, errors: 1, timeouts: 2, meanLatencyMs: 25, suspended: false }];
  const again = await metrics.render();
  assert.equal(sample(again, 'relayguard_dnsbl_queries_total{zone="zen.test"}'), 12, 'copied, not added up');
  assert.equal(sample(again, 'relayguard_dnsbl_zone_suspended{zone="zen.test"}'), 0);
});

test('a failing source empties its metrics instead of failing the scrape, and each source is read once per scrape', async () => {
  const decisions = new DecisionLog();
  const state = sourceState(T0);
  const sources = sourcesFrom(state, T0);
  let queueReads = 0;
  const metrics = createMetrics({
    sources: { ...sources, queue: async () => { queueReads += 1; return sources.queue(); } },
    decisions, now: () => T0, processMetrics: false,
  });
  state.queue = { size: 3, oldestReceivedAt: null, deferredByDomain: [] };
  assert.equal(sample(await metrics.render(), 'relayguard_queue_messages'), 3);
  assert.equal(queueReads, 1);
  state.cache = { hits: 5, misses: 5 };
  assert.equal(sample(await metrics.render(), 'relayguard_dnsbl_cache_hits_total'), 5);
  state.failing.queue = 'spool unreadable';
  state.failing.cache = 'dnsbl engine gone';
  state.failing.ready = 'probe failed';
  const text = await metrics.render();
  assert.ok(Number.isNaN(sample(text, 'relayguard_queue_messages')), 'unknown, not 0');
  assert.equal(sample(text, 'relayguard_dnsbl_cache_hits_total'), 5, 'a counter keeps its last value');
  assert.equal(sample(text, 'relayguard_ready{check="spool_writable"}'), 0);
  assert.equal(sample(text, 'relayguard_source_up{source="queue"}'), 0);
  assert.equal(sample(text, 'relayguard_source_up{source="cache"}'), 0);
  assert.equal(sample(text, 'relayguard_source_up{source="reload"}'), 1);
  assert.equal(sample(text, 'relayguard_policy_generation'), 1);
});

test('every instance has its own registry', async () => {
  const a = setup();
  const b = setup();
  a.decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  assert.notEqual(a.metrics.registry, b.metrics.registry);
  assert.equal(sample(await b.metrics.render(), 'relayguard_decisions_total{stage="data",verdict="permit",rule="spool",reason="data.queued"}'), undefined);
});

test('DNSBL latency is a histogram per zone (buckets in seconds, cumulative, +Inf, sum and count)', async () => {
  const { state, metrics } = setup();
  state.zones = [{
    zone: 'zen.test', queries: 4, listed: 0, errors: 0, timeouts: 0, meanLatencyMs: 30, suspended: false,
    latency: { boundsMs: [10, 50, 100], buckets: [1, 3, 3, 4], sumMs: 1120 },
  }];
  const text = await metrics.render();
  assert.match(text, /^# TYPE relayguard_dnsbl_lookup_duration_seconds histogram$/m);
  const expected: Record<string, number> = {
    'relayguard_dnsbl_lookup_duration_seconds_bucket{le="0.01",zone="zen.test"}': 1,
    'relayguard_dnsbl_lookup_duration_seconds_bucket{le="0.05",zone="zen.test"}': 3,
    'relayguard_dnsbl_lookup_duration_seconds_bucket{le="0.1",zone="zen.test"}': 3,
    'relayguard_dnsbl_lookup_duration_seconds_bucket{le="+Inf",zone="zen.test"}': 4,
    'relayguard_dnsbl_lookup_duration_seconds_sum{zone="zen.test"}': 1.12,
    'relayguard_dnsbl_lookup_duration_seconds_count{zone="zen.test"}': 4,
    'relayguard_dnsbl_latency_mean_seconds{zone="zen.test"}': 0.03,
  };
  for (const [series, value] of Object.entries(expected)) assert.equal(sample(text, series), value, series);
  metrics.close();
});

test('operator counters: accepted messages, refusals by stage and reason, AUTH results', async () => {
  const { decisions, metrics } = setup();
  decisions.publish(decisionEvent(queued(), '192.0.2.1', T0));
  decisions.publish(decisionEvent(relayDenied(), '192.0.2.9', T0));
  const auth = (reason: 'auth.ok' | 'auth.failed' | 'auth.locked', verdict: 'permit' | 'reject') =>
    decisions.publish(decisionEvent({ stage: 'auth', verdict, rule: 'auth', reason }, '192.0.2.5', T0));
  auth('auth.ok', 'permit');
  auth('auth.failed', 'reject');
  auth('auth.failed', 'reject');
  auth('auth.locked', 'reject');
  const text = await metrics.render();
  assert.equal(sample(text, 'relayguard_messages_accepted_total'), 1);
  assert.equal(sample(text, 'relayguard_refusals_total{stage="rcpt",verdict="reject",reason="relay.denied"}'), 1);
  assert.equal(sample(text, 'relayguard_refusals_total{stage="auth",verdict="reject",reason="auth.failed"}'), 2);
  assert.equal(sample(text, 'relayguard_auth_total{result="success"}'), 1);
  assert.equal(sample(text, 'relayguard_auth_total{result="failure"}'), 2);
  assert.equal(sample(text, 'relayguard_auth_total{result="lockout"}'), 1);
  metrics.close();
});

test('delivery attempt latency is a histogram (one observation per attempt, not per recipient)', async () => {
  const { deliveries, metrics } = setup();
  deliveries.publishAttempt({ durationMs: 80, result: 'delivered' });
  deliveries.publishAttempt({ durationMs: 3000, result: 'failed' });
  const text = await metrics.render();
  assert.equal(sample(text, 'relayguard_delivery_attempt_duration_seconds_bucket{le="0.1",result="delivered"}'), 1);
  assert.equal(sample(text, 'relayguard_delivery_attempt_duration_seconds_count{result="delivered"}'), 1);
  assert.equal(sample(text, 'relayguard_delivery_attempt_duration_seconds_bucket{le="2.5",result="failed"}'), 0);
  assert.equal(sample(text, 'relayguard_delivery_attempt_duration_seconds_bucket{le="5",result="failed"}'), 1);
  assert.equal(sample(text, 'relayguard_delivery_attempt_duration_seconds_sum{result="failed"}'), 3);
  metrics.close();
});

test('relayguard_queue_held_messages: the held count of the queue source, NaN when the source does not say', async () => {
  const state = sourceState(T0);
  const metrics = createMetrics({ sources: sourcesFrom(state, T0), decisions: new DecisionLog(), now: () => T0, processMetrics: false });
  state.queue = { size: 5, held: 2, oldestReceivedAt: null, deferredByDomain: [] };
  const text = await metrics.render();
  assert.equal(sample(text, 'relayguard_queue_messages'), 5);
  assert.equal(sample(text, 'relayguard_queue_held_messages'), 2);
  state.queue = { size: 5, oldestReceivedAt: null, deferredByDomain: [] };
  assert.ok(Number.isNaN(sample(await metrics.render(), 'relayguard_queue_held_messages')));
});

test('quarantine and refusal series come from the queue source', async () => {
  const state = sourceState(T0);
  const metrics = createMetrics({ sources: sourcesFrom(state, T0), decisions: new DecisionLog(), now: () => T0, processMetrics: false });
  state.queue = {
    size: 0, oldestReceivedAt: null, deferredByDomain: [],
    quarantine: { count: 2, entries: [] },
    refusals: {
      byClass: [{ class: 'blocklist', count: 3 }, { class: 'greylist', count: 1 }],
      byDomain: [{ domain: 'example.org', class: 'blocklist', count: 2 }],
      listings: [{ list: 'Spamhaus', class: 'blocklist', replies: 3, domains: 2, lastAt: T0, lastReply: '554 5.7.1 blocked using zen.spamhaus.org' }],
    },
  };
  const text = await metrics.render();
  assert.equal(sample(text, 'relayguard_spool_quarantined_entries'), 2);
  assert.equal(sample(text, 'relayguard_delivery_refusals_total{class="blocklist"}'), 3);
  assert.equal(sample(text, 'relayguard_delivery_refusals_by_domain{domain="example.org",class="blocklist"}'), 2);
  assert.equal(sample(text, 'relayguard_delivery_listed{list="Spamhaus",class="blocklist"}'), 3);
  assert.equal(sample(await metrics.render(), 'relayguard_delivery_refusals_total{class="blocklist"}'), 3, 'a second scrape does not add again');
});
