// Issue 11 end to end: two whole relays sharing one real redis-server, with
// a real HAProxy (TCP mode, send-proxy-v2) in front of them. Clients play
// outside hosts from 127.0.0.x source addresses; relay-networks is empty, so
// nobody is exempt from the per-IP limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decisions, getJson, getText, sendOne, startClusterPair } from '../helpers/cluster-relays.ts';
import { openSession, authPlainLine } from '../helpers/e2e-auth-clients.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '',
  'denylist': '127.0.0.8 refused in the cluster test\n',
  'limits.toml': '[ip]\nmessages = "3/1h"\n',
};

const ACCEPTED = /^250 2\.0\.0 Ok: queued as /;
const RATE_LIMITED = '450 4.7.1 Rate limit exceeded, try again later';

test('through HAProxy: the client address from the PROXY header reaches policy, and a per-IP message limit holds in total across both instances', async (t) => {
  const cluster = await startClusterPair(t, { policies: POLICIES, haproxy: true });
  const haproxy = cluster.haproxy ?? assert.fail('no haproxy');
  const port = haproxy.port;
  const CLIENT = '127.0.0.7';
  // HAProxy's /healthz checks (as in the README) find both instances up.
  await waitFor(async () => {
    const servers = (await haproxy.stats()).filter((row) => row.pxname === 'relayguard' && /^relay\d$/.test(row.svname ?? ''));
    return servers.length === 2 && servers.every((row) => row.status === 'UP' && row.check_status === 'L7OK');
  }, 10_000, 'both servers UP with L7OK checks');

  // Five messages, each on its own connection: HAProxy spreads them over both.
  const replies: string[] = [];
  for (let i = 1; i <= 5; i++) replies.push(await sendOne(port, CLIENT, `lb ${i}`));
  assert.equal(replies.filter((reply) => ACCEPTED.test(reply)).length, 3, replies.join('\n'));
  assert.deepEqual(replies.slice(3), [RATE_LIMITED, RATE_LIMITED], 'messages = "3/1h" is 3 in all, not 3 per instance');
  await cluster.sink.waitFor(3);

  // Both instances served the client, and both saw its real address, not HAProxy's.
  for (const relay of [cluster.a, cluster.b]) {
    assert.ok(decisions(relay, { client: CLIENT }).length > 0, 'each instance judged 127.0.0.7');
  }
  const queued = [cluster.a, cluster.b].map((relay) => decisions(relay, { client: CLIENT, reason: 'data.queued' }).length);
  assert.ok(queued[0]! > 0 && queued[1]! > 0, `both instances accepted some (${queued.join(', ')})`);
  assert.equal(queued[0]! + queued[1]!, 3);
  const refusals = [cluster.a, cluster.b].flatMap((relay) => decisions(relay, { reason: 'mail.rate' }));
  assert.equal(refusals.length, 2);
  assert.ok(refusals.every((line) => line.client === CLIENT));

  // Queue ids carry the instance that accepted the message.
  const ids = replies.filter((reply) => ACCEPTED.test(reply)).map((reply) => reply.replace(ACCEPTED, ''));
  assert.ok(ids.some((id) => id.startsWith('relay-a-')) && ids.some((id) => id.startsWith('relay-b-')), ids.join(', '));
  assert.ok(ids.every((id) => /^relay-[ab]-[0-9A-Z]{17}$/.test(id)), ids.join(', '));

  // A denylisted address is refused at connect by whichever instance gets it.
  for (let i = 0; i < 2; i++) {
    assert.equal(await sendOne(port, '127.0.0.8', 'denied'), '554 5.7.1 refused in the cluster test');
  }
  for (const relay of [cluster.a, cluster.b]) {
    assert.equal(decisions(relay, { client: '127.0.0.8', reason: 'denylist.listed' }).length, 1);
  }
});

test('a per-IP limit holds in total when the client connects to each instance directly', async (t) => {
  const cluster = await startClusterPair(t, { policies: POLICIES });
  const CLIENT = '127.0.0.5';
  const [a, b] = [cluster.a.port('mx'), cluster.b.port('mx')];
  assert.match(await sendOne(a, CLIENT, 'one'), ACCEPTED);
  assert.match(await sendOne(b, CLIENT, 'two'), ACCEPTED);
  assert.match(await sendOne(b, CLIENT, 'three'), ACCEPTED);
  assert.equal(await sendOne(a, CLIENT, 'four'), RATE_LIMITED);
  assert.equal(await sendOne(b, CLIENT, 'five'), RATE_LIMITED);
  assert.match(await sendOne(a, '127.0.0.6', 'another client'), ACCEPTED, 'another address has its own count');
});

test('an AUTH lockout made on one instance holds on the other', async (t) => {
  const ALICE = { name: 'alice@example.test', password: 'correct horse battery staple' };
  const cluster = await startClusterPair(t, {
    policies: { ...POLICIES, 'users.toml': await usersToml([ALICE]) },
    config: '\n[auth]\nfailures_before_delay = 10\nfailures_before_lockout = 3\nfailure_window = "10m"\nlockout = "10m"\n',
  });
  const CLIENT = '127.0.0.11';
  const attempt = async (port: number, password: string): Promise<string> => {
    const { talk } = await openSession(port, true, CLIENT);
    try {
      return (await talk.command(authPlainLine(ALICE.name, password))).lines[0] ?? '';
    } finally {
      talk.close();
    }
  };
  const [a, b] = [cluster.a.port('submissions'), cluster.b.port('submissions')];
  assert.match(await attempt(b, ALICE.password), /^235 /, 'instance b accepts alice before');
  for (let i = 0; i < 3; i++) assert.match(await attempt(a, 'wrong'), /^535 5\.7\.8 /);
  assert.equal(await attempt(b, ALICE.password), '454 4.7.0 Too many failed authentication attempts, try again later');
  assert.equal(await attempt(a, ALICE.password), '454 4.7.0 Too many failed authentication attempts, try again later');
  const locked = decisions(cluster.b, { reason: 'auth.locked' })[0];
  assert.equal((locked?.detail as Record<string, unknown> | undefined)?.locked, 'ip+user', 'both the address and the user are locked on b');
  // The lock lives in Redis with its expiry.
  const { link } = cluster.a.relay.cluster ?? assert.fail('relay a has no cluster runtime');
  assert.ok((await link.client.pttl('relayguard:auth:lock:user:alice@example.test')) > 9 * 60_000);
});

test('the dashboard, /api/status and /metrics name the instance and show that Redis is up', async (t) => {
  const cluster = await startClusterPair(t, { policies: POLICIES });
  for (const [relay, name] of [[cluster.a, 'relay-a'], [cluster.b, 'relay-b']] as const) {
    const http = relay.relay.http ?? assert.fail('no dashboard');
    const status = await getJson(http.port, '/api/status');
    assert.equal(status.instance, name);
    const section = status.cluster as { shared: boolean; redis: { up: boolean; state: string; address: string } };
    assert.equal(section.shared, true);
    assert.equal(section.redis.up, true);
    assert.equal(section.redis.address, cluster.redis.url);
    const metrics = await getText(http.port, '/metrics');
    assert.match(metrics, new RegExp(`relayguard_info\\{instance="${name}",version="[^"]+"\\} 1`));
    assert.match(metrics, new RegExp(`relayguard_redis_up\\{redis="${cluster.redis.url.replace(/[/.]/g, '\\$&')}"\\} 1`));
    assert.match(metrics, /relayguard_redis_outages_total\{redis="[^"]+"\} 0/);
    const page = await getText(http.port, '/');
    assert.match(page, /id="cluster"/);
  }
  await waitFor(() => cluster.a.relay.cluster?.status().up === true, 1000, 'up');
});
