// Issue 11 end to end: Redis stopped in the middle of the traffic of two
// relays, then started again on the same port. Fail open (the default): both
// keep accepting and delivering, each counting on its own; one loud log line
// per outage; dashboard and metrics say Redis is down; sharing resumes when it
// is back. Fail closed: limited commands and AUTH get 4xx, trusted clients
// (not counted) still pass, and everything recovers with Redis. Redis absent
// at start: the relay starts all the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_LISTENERS, decisions, getJson, getText, sendOne, startClusterPair } from '../helpers/cluster-relays.ts';
import { startRedisServer } from '../helpers/cluster-servers.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { openSession, authPlainLine } from '../helpers/e2e-auth-clients.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { smarthostTo, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';

const POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.20\n',
  'limits.toml': '[ip]\nmessages = "3/1h"\n',
};
const ACCEPTED = /^250 2\.0\.0 Ok: queued as /;
const RATE_LIMITED = '450 4.7.1 Rate limit exceeded, try again later';

const redisEvents = (relay: RelayHarness, event: string): number => relay.logs.filter((line) => line.event === event).length;
const redisUp = (relay: RelayHarness): boolean => relay.relay.cluster?.status().up === true;

test('Redis stopped mid-traffic: both instances keep accepting and delivering, say so once, and share counters again when it returns', async (t) => {
  const cluster = await startClusterPair(t, { policies: POLICIES });
  const { a, b, sink, redis } = cluster;
  assert.match(await sendOne(a.port('mx'), '127.0.0.9', 'before'), ACCEPTED);
  await sink.waitFor(1);

  await redis.stop();
  await waitFor(() => !redisUp(a) && !redisUp(b), 5000, 'both instances to see the outage');

  // Fail open: each instance now counts 127.0.0.9 on its own (3 each), and delivers.
  const onA: string[] = [];
  for (let i = 0; i < 4; i++) onA.push(await sendOne(a.port('mx'), '127.0.0.9', `outage a${i}`));
  assert.equal(onA.filter((reply) => ACCEPTED.test(reply)).length, 3, onA.join('\n'));
  assert.equal(onA[3], RATE_LIMITED, 'the limit still holds per instance');
  assert.match(await sendOne(b.port('mx'), '127.0.0.9', 'outage b'), ACCEPTED);
  await sink.waitFor(5);
  assert.ok(sink.messages.some((m) => m.raw.toString('latin1').includes('Subject: outage b')));

  // One error line per instance for the whole outage, however many commands.
  for (const relay of [a, b]) {
    assert.equal(redisEvents(relay, 'cluster.redis.down'), 1);
    const line = relay.logs.find((entry) => entry.event === 'cluster.redis.down');
    assert.equal(line?.level, 50);
    assert.equal(line?.redis, redis.url);
    assert.equal(decisions(relay, { reason: 'internal.error' }).length, 0, 'no internal error replies');
  }

  // The dashboard and /metrics of each instance show it.
  for (const relay of [a, b]) {
    const port = relay.relay.http?.port ?? 0;
    const status = await getJson(port, '/api/status');
    const section = status.cluster as { redis: { up: boolean; state: string; outages: number; failOpen: boolean } };
    assert.deepEqual([section.redis.up, section.redis.state, section.redis.outages, section.redis.failOpen], [false, 'down', 1, true]);
    assert.match(await getText(port, '/metrics'), /relayguard_redis_up\{redis="[^"]+"\} 0/);
  }

  await redis.start();
  await waitFor(() => redisUp(a) && redisUp(b), 15_000, 'both instances to reconnect');
  for (const relay of [a, b]) assert.equal(redisEvents(relay, 'cluster.redis.up'), 1);

  // Shared again: 3 in all for a new client across both instances.
  assert.match(await sendOne(a.port('mx'), '127.0.0.10', 'after 1'), ACCEPTED);
  assert.match(await sendOne(b.port('mx'), '127.0.0.10', 'after 2'), ACCEPTED);
  assert.match(await sendOne(a.port('mx'), '127.0.0.10', 'after 3'), ACCEPTED);
  assert.equal(await sendOne(b.port('mx'), '127.0.0.10', 'after 4'), RATE_LIMITED);
  await sink.waitFor(8);
  assert.match(await getText(a.relay.http?.port ?? 0, '/metrics'), /relayguard_redis_outages_total\{redis="[^"]+"\} 1/);
});

test('fail_open = false: with Redis down, counted commands get 4xx and AUTH 454; trusted clients pass; all recovers with Redis', async (t) => {
  const ALICE = { name: 'alice@example.test', password: 'correct horse battery staple' };
  // No connection-rate window, so the first counted command is MAIL (with the
  // default "60/1m" the refusal would come at connect: 421 4.3.0).
  const policies = { ...POLICIES, 'limits.toml': '[ip]\nmessages = "3/1h"\nconnections = "off"\n', 'users.toml': await usersToml([ALICE]) };
  const cluster = await startClusterPair(t, { policies, failOpen: false });
  const { a, b, redis } = cluster;
  const auth = async (relay: RelayHarness): Promise<string> => {
    const { talk } = await openSession(relay.port('submissions'), true, '127.0.0.12');
    try {
      return (await talk.command(authPlainLine(ALICE.name, ALICE.password))).lines[0] ?? '';
    } finally {
      talk.close();
    }
  };
  assert.match(await auth(a), /^235 /);

  await redis.stop();
  await waitFor(() => !redisUp(a) && !redisUp(b), 5000, 'both instances to see the outage');
  for (const relay of [a, b]) {
    assert.equal(await sendOne(relay.port('mx'), '127.0.0.12', 'refused'), '451 4.3.0 Temporary local problem, try again later');
    assert.equal(await auth(relay), '454 4.7.0 Temporary authentication failure');
    assert.match(await sendOne(relay.port('mx'), '127.0.0.20', 'trusted'), ACCEPTED, 'relay networks are not counted per IP');
    assert.ok(decisions(relay, { reason: 'limits.unavailable' }).length >= 1);
    assert.equal(redisEvents(relay, 'cluster.redis.down'), 1);
  }

  await redis.start();
  await waitFor(() => redisUp(a) && redisUp(b), 15_000, 'both instances to reconnect');
  for (const relay of [a, b]) {
    assert.match(await sendOne(relay.port('mx'), '127.0.0.12', 'back'), ACCEPTED);
    assert.match(await auth(relay), /^235 /);
  }
});

test('Redis unreachable at start: the relay starts anyway, says why once, accepts mail, and connects when Redis appears', async (t) => {
  const redis = await startRedisServer();
  const sink = await startSmtpSink();
  await redis.stop();
  const harness = await startHarness({
    config: `${CLUSTER_LISTENERS}${smarthostTo(sink.port)}\n[cluster]\nredis = "${redis.url}"\ninstance = "late"\n`,
    policies: POLICIES,
  });
  t.after(async () => {
    await harness.stop();
    await sink.close();
    await redis.close();
  });
  const down = harness.logs.filter((line) => line.event === 'cluster.redis.down');
  assert.equal(down.length, 1);
  assert.match(String(down[0]?.error), /not connected within \d+ ms: .*ECONNREFUSED/);
  assert.match(await sendOne(harness.port('mx'), '127.0.0.13', 'no redis yet'), /^250 2\.0\.0 Ok: queued as late-/);
  await redis.start();
  await waitFor(() => harness.relay.cluster?.status().up === true, 15_000, 'the relay to connect');
  assert.equal(harness.logs.filter((line) => line.event === 'cluster.redis.up').length, 1);
  await sink.waitFor(1);
});
