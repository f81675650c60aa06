// The cluster's part of /api/status and /metrics over real HTTP: a single
// instance says so and exports no Redis series (no false alert), a shared
// Redis shows up or down with its address, and a failing source degrades
// only its own section. The real Redis behind it: test/cluster/*.cluster.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusDocument } from '../../src/http/status.ts';
import type { ClusterStatus } from '../../src/observability/sources.ts';
import { request, startDashboard, type Dashboard } from '../helpers/dashboard-fixture.ts';

async function read(d: Dashboard): Promise<{ status: StatusDocument; metrics: string }> {
  const status = JSON.parse((await request(`${d.url}/api/status`)).body) as StatusDocument;
  const metrics = (await request(`${d.url}/metrics`)).body;
  return { status, metrics };
}

const redis = (up: boolean): ClusterStatus => ({
  shared: true,
  redis: {
    address: 'redis://10.0.0.5:6379', state: up ? 'up' : 'down', up, since: 1_700_000_000_000, outages: up ? 0 : 2,
    failedOperations: 7, skippedOperations: 40, lastError: up ? null : 'connection closed', failOpen: true,
  },
});

test('a single instance: cluster.shared false and no relayguard_redis_* series', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  const { status, metrics } = await read(d);
  assert.deepEqual(status.cluster, { shared: false });
  assert.doesNotMatch(metrics, /^relayguard_redis_\w+\{/m);
  assert.match(metrics, /^relayguard_source_up\{source="cluster"\} 1$/m);
});

test('a shared Redis: up, then down, in /api/status and /metrics, labelled with its address', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  d.state.cluster = redis(true);
  let { status, metrics } = await read(d);
  assert.deepEqual(status.cluster, redis(true));
  assert.match(metrics, /^relayguard_redis_up\{redis="redis:\/\/10\.0\.0\.5:6379"\} 1$/m);
  assert.match(metrics, /^relayguard_redis_outages_total\{redis="redis:\/\/10\.0\.0\.5:6379"\} 0$/m);

  d.state.cluster = redis(false);
  ({ status, metrics } = await read(d));
  assert.equal('redis' in status.cluster && status.cluster.redis?.state, 'down');
  assert.match(metrics, /^relayguard_redis_up\{redis="redis:\/\/10\.0\.0\.5:6379"\} 0$/m);
  assert.match(metrics, /^relayguard_redis_outages_total\{redis="redis:\/\/10\.0\.0\.5:6379"\} 2$/m);
  assert.match(metrics, /^relayguard_redis_failed_operations_total\{redis="redis:\/\/10\.0\.0\.5:6379"\} 7$/m);
  assert.match(metrics, /^relayguard_redis_skipped_operations_total\{redis="redis:\/\/10\.0\.0\.5:6379"\} 40$/m);
});

test('a failing cluster source: an error in its section, the rest answers, the up series is dropped', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  d.state.cluster = redis(true);
  await read(d);
  d.state.failing.cluster = 'status unavailable';
  const { status, metrics } = await read(d);
  assert.deepEqual(status.cluster, { error: 'status unavailable' });
  assert.ok('generation' in status.reload);
  assert.doesNotMatch(metrics, /^relayguard_redis_up\{/m);
  assert.match(metrics, /^relayguard_source_up\{source="cluster"\} 0$/m);
});
