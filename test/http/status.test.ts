// /api/status, /metrics and /healthz over real HTTP: the numbers move when
// decisions and delivery events are published, sources show up as they are,
// and a failing source degrades its own section only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusDocument } from '../../src/http/status.ts';
import { decisionEvent, dnsblListed, queued, rateDeferred, relayDenied, request, startDashboard, type Dashboard } from '../helpers/dashboard-fixture.ts';

const TOKEN = 'status-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

async function status(d: Dashboard): Promise<StatusDocument> {
  const response = await request(`${d.url}/api/status`, { headers: auth });
  assert.equal(response.status, 200);
  assert.match(String(response.headers['content-type']), /application\/json/);
  assert.equal(response.headers['cache-control'], 'no-store');
  return JSON.parse(response.body) as StatusDocument;
}

async function metric(d: Dashboard, series: string): Promise<number | undefined> {
  const response = await request(`${d.url}/metrics`, { headers: auth });
  assert.equal(response.status, 200);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const line = response.body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const ACCEPTED = 'relayguard_decisions_total{stage="data",verdict="permit",rule="spool",reason="data.queued"}';
const RELAY_DENIED = 'relayguard_decisions_total{stage="rcpt",verdict="reject",rule="relay-networks",reason="relay.denied"}';

test('accepted and refused counts rise in /api/status and /metrics after decisions are published', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const before = await status(d);
  assert.deepEqual([before.traffic.totals.accepted, before.traffic.totals.rejected], [0, 0]);
  assert.equal(await metric(d, ACCEPTED), undefined);

  const now = Date.now();
  d.decisions.publish(decisionEvent(queued(), '198.51.100.7', now, { sender: 'alice@example.org', recipient: 'bob@example.com' }));
  d.decisions.publish(decisionEvent(relayDenied(), '192.0.2.66', now, { sender: 'x@probe.example', recipient: 'victim@elsewhere.example' }));
  d.decisions.publish(decisionEvent(dnsblListed(), '192.0.2.66', now));
  d.decisions.publish(decisionEvent(rateDeferred(), '203.0.113.4', now));

  const after = await status(d);
  assert.deepEqual(
    [after.traffic.totals.accepted, after.traffic.totals.rejected, after.traffic.totals.deferred],
    [1, 2, 1],
  );
  assert.equal(after.traffic.currentMinute.accepted, 1);
  assert.equal(after.traffic.series.rejected.at(-1), 2);
  assert.equal(after.traffic.refusedByRule['relay-networks']?.at(-1), 1);
  const top = after.traffic.topRefused[0];
  assert.deepEqual([top?.ip, top?.count, top?.rule, top?.reason], ['192.0.2.66', 2, 'dnsbl', 'dnsbl.listed']);
  assert.equal(after.traffic.recentRefusals.find((r) => r.reason === 'relay.denied')?.recipient, 'victim@elsewhere.example');
  assert.equal(await metric(d, ACCEPTED), 1);
  assert.equal(await metric(d, RELAY_DENIED), 1);
});

test('delivery events move delivered, bounced and retries', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const at = Date.now();
  d.deliveries.publish({ result: 'delivered', at, queueId: 'q1', recipient: 'a@example.org', domain: 'example.org' });
  d.deliveries.publish({ result: 'delivered', at, queueId: 'q1', recipient: 'b@example.org', domain: 'example.org' });
  d.deliveries.publish({ result: 'bounced', at, queueId: 'q2', recipient: 'c@example.net', domain: 'example.net', detail: '550 5.1.1' });
  d.deliveries.publish({ result: 'deferred', at, queueId: 'q3', recipient: 'd@slow.example', domain: 'slow.example' });
  const s = await status(d);
  assert.deepEqual([s.traffic.lastHour.delivered, s.traffic.lastHour.bounced, s.traffic.lastHour.deliveryDeferred], [2, 1, 1]);
  assert.equal(await metric(d, 'relayguard_delivery_total{result="delivered"}'), 2);
  assert.equal(await metric(d, 'relayguard_delivery_total{result="bounced"}'), 1);
  assert.equal(await metric(d, 'relayguard_delivery_total{result="deferred"}'), 1);
});

test('queue, DNSBL, cache, reload and uptime come from the sources', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const now = Date.now();
  d.state.queue = { size: 5, oldestReceivedAt: now - 600_000, deferredByDomain: [{ domain: 'slow.example', count: 2, lastError: '451 4.3.0 busy' }] };
  d.state.zones = [{ zone: 'zen.test', queries: 20, listed: 5, errors: 1, timeouts: 0, meanLatencyMs: 12, suspended: false }];
  d.state.cache = { hits: 30, misses: 10 };
  d.state.reload = { at: now, ok: false, generation: 2, errors: [{ file: 'policies/denylist', line: 3, message: 'invalid IP address or CIDR' }] };
  const s = await status(d);
  assert.equal(s.instance, 'relay-test');
  assert.equal(s.version, '0.1.0');
  assert.ok(s.uptimeSeconds >= 3725);
  assert.ok('size' in s.queue && s.queue.size === 5 && s.queue.oldestAgeSeconds !== null && s.queue.oldestAgeSeconds >= 600);
  assert.ok('zones' in s.dnsbl && s.dnsbl.zones[0]?.hitRate === 0.25);
  assert.ok('hitRatio' in s.cache && s.cache.hitRatio === 0.75);
  assert.ok('ok' in s.reload && s.reload.ok === false && s.reload.errors[0]?.line === 3);
  assert.equal(await metric(d, 'relayguard_queue_messages'), 5);
  assert.equal(await metric(d, 'relayguard_policy_reload_success'), 0);
});

test('a failing source shows as an error in its own section; the rest still answers', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  d.state.failing.queue = 'spool directory unreadable';
  d.state.failing.dnsbl = 'engine not started';
  const s = await status(d);
  assert.deepEqual(s.queue, { error: 'spool directory unreadable' });
  assert.deepEqual(s.dnsbl, { error: 'engine not started' });
  assert.ok('generation' in s.reload);
  assert.ok('hitRatio' in s.cache);
});

test('/healthz: 200 only when listeners are up and the spool is writable', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const cases = [
    { ready: { listeners: true, spoolWritable: true }, status: 200 },
    { ready: { listeners: false, spoolWritable: true }, status: 503 },
    { ready: { listeners: true, spoolWritable: false }, status: 503 },
    { ready: { listeners: false, spoolWritable: false }, status: 503 },
  ];
  for (const c of cases) {
    d.state.ready = c.ready;
    const response = await request(`${d.url}/healthz`);
    assert.equal(response.status, c.status, JSON.stringify(c.ready));
    assert.deepEqual(JSON.parse(response.body), { status: c.status === 200 ? 'ready' : 'not ready', ...c.ready });
  }
  d.state.ready = { listeners: true, spoolWritable: true };
  d.state.failing.ready = 'probe crashed';
  assert.equal((await request(`${d.url}/healthz`)).status, 503);
});
