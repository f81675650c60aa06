// Issue 23 item 6 end to end: after real SMTP traffic, /metrics of a running
// relay shows the counters an operator looks for first moving, Node's process
// metrics under their standard names, and every metric the shipped Grafana
// dashboard (contrib/grafana-relayguard.json) queries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { sendAcceptedAndRefused, startDashboardHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'e2e-metrics-token-51cd';

/** Sample value of the first line of `name` whose labels include every one of `labels`. */
function value(text: string, name: string, ...labels: string[]): number | undefined {
  const line = text.split('\n').find((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && labels.every((label) => l.includes(label)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Every metric name a dashboard panel queries. */
function referencedMetrics(dashboard: unknown): Set<string> {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if ((key === 'expr' || key === 'query') && typeof child === 'string') {
          for (const m of child.matchAll(/\b(?:relayguard|process|nodejs)_[a-z0-9_]+/g)) names.add(m[0]);
        } else walk(child);
      }
    }
  };
  walk(dashboard);
  return names;
}

test('/metrics after real SMTP traffic: the operator counters move, process metrics have standard names, the Grafana dashboard finds every metric', async (t) => {
  const { harness, sink } = await startDashboardHarness(t, TOKEN);
  const base = `http://127.0.0.1:${harness.relay.http?.port}`;
  const scrape = async () => (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();

  assert.equal(await sendAcceptedAndRefused(harness.port('mx'), 'metered'), 554);
  await sink.waitFor(1);
  let text = '';
  // Both connections are counted as closed once the relay has seen them go.
  // The attempt's metric is recorded after the upstream's reply, a moment after the sink has the message.
  await waitFor(
    async () =>
      (value((text = await scrape()), 'relayguard_connections_closed_total', 'tls="no"') ?? 0) >= 2 &&
      value(text, 'relayguard_delivery_attempt_duration_seconds_count', 'result="delivered"') === 1,
    15_000,
    'both connections closed and the delivery attempt counted',
  );

  assert.equal(value(text, 'relayguard_messages_accepted_total'), 1);
  assert.equal(value(text, 'relayguard_refusals_total', 'stage="rcpt"', 'verdict="reject"', 'reason="relay.denied"'), 1);
  assert.equal(value(text, 'relayguard_connections_opened_total'), 2);
  assert.equal(value(text, 'relayguard_connections_refused_total'), 0);
  assert.equal(value(text, 'relayguard_connections_closed_total', 'tls="yes"'), 0);
  const bytes = value(text, 'relayguard_received_bytes_total') ?? 0;
  assert.ok(bytes >= 'Subject: metered\r\n\r\nhi\r\n'.length, `bytes received: ${bytes}`);
  for (const result of ['success', 'failure', 'lockout']) assert.equal(value(text, 'relayguard_auth_total', `result="${result}"`), 0, result);
  assert.match(text, /^# TYPE relayguard_dnsbl_lookup_duration_seconds histogram$/m);
  assert.equal(value(text, 'relayguard_delivery_attempt_duration_seconds_count', 'result="delivered"'), 1);
  assert.equal(value(text, 'relayguard_delivery_attempt_duration_seconds_bucket', 'le="+Inf"', 'result="delivered"'), 1);
  assert.equal(value(text, 'relayguard_delivery_attempt_duration_seconds_count', 'result="failed"'), 0);
  // The old names stay next to the new ones.
  assert.equal(value(text, 'relayguard_decisions_total', 'reason="data.queued"'), 1);

  // Node's default metrics under the names stock dashboards use (and the old prefixed copies).
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'relayguard_process_cpu_user_seconds_total']) {
    assert.ok(value(text, name) !== undefined, name);
  }

  const dashboard = JSON.parse(await readFile(new URL('../../contrib/grafana-relayguard.json', import.meta.url), 'utf8')) as { panels: unknown[] };
  assert.ok(dashboard.panels.length > 0);
  const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
  const samples = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0] as string));
  const referenced = referencedMetrics(dashboard);
  assert.ok(referenced.size >= 10, `the dashboard queries ${referenced.size} metrics`);
  for (const name of referenced) {
    const family = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(samples.has(name) || families.has(name) || families.has(family), `${name} (in the Grafana dashboard) is not in /metrics`);
  }
});
