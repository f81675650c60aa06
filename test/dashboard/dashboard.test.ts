// Issue 9 end to end: the dashboard of a running relay counts what the SMTP
// front door really did. Mail is sent and refused over SMTP; /api/status and
// /metrics (token required) show the numbers move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendAcceptedAndRefused, startDashboardHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'e2e-dashboard-token-93ab';

async function api(base: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: response.status, body: await response.text() };
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

test('counts on /api/status and /metrics follow real SMTP traffic; the token is required', async (t) => {
  const { harness, sink } = await startDashboardHarness(t, TOKEN);
  const http = harness.relay.http;
  assert.ok(http);
  const base = `http://127.0.0.1:${http.port}`;

  assert.equal((await api(base, '/api/status')).status, 401);
  assert.equal((await api(base, '/metrics')).status, 401);
  assert.equal((await api(base, '/healthz')).status, 200, 'healthz needs no token');
  const before = JSON.parse((await api(base, '/api/status', TOKEN)).body) as { traffic: { totals: Record<string, number> } };

  assert.equal(await sendAcceptedAndRefused(harness.port('mx'), 'counted'), 554);
  await sink.waitFor(1);

  type Status = { traffic: { totals: Record<string, number>; topRefused: Array<{ ip: string; rule: string; reason: string }> }; queue: { size: number } };
  let status: Status | undefined;
  await waitFor(async () => {
    status = JSON.parse((await api(base, '/api/status', TOKEN)).body) as Status;
    // The delivery is counted when the upstream says 250; the message leaves the
    // queue a moment later, once its done mark is written.
    return status.traffic.totals.delivered === (before.traffic.totals.delivered ?? 0) + 1 && status.queue.size === 0;
  }, 5000, 'the delivery to show up and the queue to empty');
  assert.ok(status);
  assert.equal(status.traffic.totals.accepted, (before.traffic.totals.accepted ?? 0) + 1);
  assert.equal(status.traffic.totals.rejected, (before.traffic.totals.rejected ?? 0) + 1);
  assert.deepEqual(
    status.traffic.topRefused.map((r) => [r.ip, r.rule, r.reason]),
    [['127.0.0.3', 'reject-relay', 'relay.denied']],
  );
  assert.equal(status.queue.size, 0);

  const metrics = (await api(base, '/metrics', TOKEN)).body;
  assert.equal(metric(metrics, 'relayguard_decisions_total', 'reason="relay.denied"'), 1);
  assert.equal(metric(metrics, 'relayguard_decisions_total', 'reason="data.queued"'), 1);
});
