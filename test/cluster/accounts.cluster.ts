// Issue 19 item 2 with [cluster]: account anomaly state shared through a real
// redis-server by two whole relays. A burst split over both instances trips a
// trigger that neither half would; the hold then applies on both; a release
// on one ends the episode on both and each releases the messages it holds.
// A lock set through one instance refuses AUTH on the other (535), and a
// release on the other lifts it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decisions, startClusterPair } from '../helpers/cluster-relays.ts';
import { authPlainLine, openSession, submit } from '../helpers/e2e-auth-clients.ts';
import { usersToml } from '../helpers/auth-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import type { RelayHarness } from '../helpers/relay-harness.ts';

const ALICE = { name: 'alice@example.test', password: 'alice-cluster-pw-4410', senders: ['alice@example.test'] };
const POLICIES = async (): Promise<Record<string, string>> => ({
  'local-domains': 'example.test\n',
  'relay-networks': '',
  'users.toml': await usersToml([ALICE]),
});
// More than 10 distinct recipient domains in the hour trips recipient_domains (hold).
const CONFIG = `
[accounts.recipient_domains]
floor = 10
`;
const BURST = 12;

const subjects = (messages: ReadonlyArray<{ raw: Buffer }>, prefix: string): string[] =>
  messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('utf8'))?.[1] ?? '').filter((s) => s.startsWith(prefix));

async function authReply(relay: RelayHarness, password: string): Promise<string> {
  const { talk } = await openSession(relay.port('submissions'), true, '127.0.0.1');
  try {
    return (await talk.command(authPlainLine(ALICE.name, password))).lines[0] ?? '';
  } finally {
    talk.close();
  }
}

test('a burst split over two instances trips recipient_domains, which neither half would; the hold and the release apply on both', async (t) => {
  const cluster = await startClusterPair(t, { policies: await POLICIES(), config: CONFIG });
  const relays = [cluster.a, cluster.b];
  const taken: Array<{ relay: RelayHarness; id: string; subject: string }> = [];
  for (let i = 0; i < BURST; i++) {
    const relay = relays[i % 2] as RelayHarness;
    const subject = `split-${i}`;
    const sent = await submit({ port: relay.port('submissions'), implicitTls: true, user: ALICE.name, pass: ALICE.password, from: ALICE.name, to: [`someone@domain${i}.example`], subject });
    assert.ok(sent.ok, sent.response);
    const id = /queued as (\S+)/.exec(sent.response)?.[1] ?? assert.fail(sent.response);
    taken.push({ relay, id, subject });
  }
  // Each instance took 6 messages to 6 domains: under the floor of 10 on its own.
  assert.equal(taken.filter((m) => m.relay === cluster.a).length, BURST / 2);
  const fired = relays.flatMap((relay) => decisions(relay, { reason: 'account.recipient_domains' }));
  assert.equal(fired.length, 1, 'one instance judged the 11th domain, counting the other instance\'s');
  assert.equal((fired[0]?.detail as Record<string, unknown> | undefined)?.domains_in_window, 11);
  // The 11th message (on a) and the 12th (on b, after the episode reached it) are held where they were taken.
  for (const [i, m] of taken.entries()) assert.equal(m.relay.relay.runner.isHeld(m.id), i >= 10, `${m.subject} held: ${i >= 10}`);
  for (const relay of relays) {
    await waitFor(() => relay.relay.accounts?.suspects()[0]?.state === 'held', 5000, `alice held on ${relay === cluster.a ? 'a' : 'b'}`);
  }
  await cluster.sink.waitFor(10, 20_000);
  assert.deepEqual(subjects(cluster.sink.messages, 'split-').sort(), taken.slice(0, 10).map((m) => m.subject).sort());

  // Released on b with its mail: each instance releases the one it holds; both forget the episode.
  assert.equal(await cluster.b.relay.accounts?.release(ALICE.name, 'cluster-test', true), true);
  await cluster.sink.waitFor(BURST, 20_000);
  const delivered = subjects(cluster.sink.messages, 'split-');
  assert.equal(delivered.length, BURST);
  assert.equal(new Set(delivered).size, BURST, 'each message once');
  for (const relay of relays) {
    await waitFor(() => relay.relay.accounts?.suspects().length === 0, 5000, 'no suspect left');
    assert.equal(relay.relay.runner.stats().held, 0);
  }
  // The episode is gone from Redis too.
  const { link } = cluster.a.relay.cluster ?? assert.fail('no cluster runtime');
  assert.deepEqual(await link.client.hgetall('relayguard:accounts:suspects'), {});
});

test('a lock set through instance a refuses AUTH on instance b with 535; a release on b lifts it on a', async (t) => {
  const cluster = await startClusterPair(t, { policies: await POLICIES(), config: CONFIG });
  assert.match(await authReply(cluster.b, ALICE.password), /^235 /, 'b accepts alice before');
  await cluster.a.relay.accounts?.lock(ALICE.name, 'cluster-test');
  await waitFor(async () => /^535 5\.7\.8 /.test(await authReply(cluster.b, ALICE.password)), 10_000, 'b refuses alice with 535', 200);
  assert.match(await authReply(cluster.a, ALICE.password), /^535 5\.7\.8 /, 'a refuses her too');
  assert.equal(cluster.b.relay.accounts?.suspects()[0]?.state, 'locked');

  assert.equal(await cluster.b.relay.accounts?.release(ALICE.name, 'cluster-test', false), true);
  assert.match(await authReply(cluster.b, ALICE.password), /^235 /, 'b lets her in at once');
  await waitFor(async () => /^235 /.test(await authReply(cluster.a, ALICE.password)), 10_000, 'a lets her in again', 200);
  assert.deepEqual(cluster.a.relay.accounts?.suspects(), []);
});

test('Redis down: a lock set on a holds on a alone (fail-open, local state); when Redis is back a tells b, which refuses AUTH too', async (t) => {
  const cluster = await startClusterPair(t, { policies: await POLICIES(), config: CONFIG });
  const { a, b, redis } = cluster;
  const up = (relay: RelayHarness): boolean => relay.relay.cluster?.status().up === true;
  await redis.stop();
  await waitFor(() => !up(a) && !up(b), 5000, 'both instances to see the outage');
  await a.relay.accounts?.lock(ALICE.name, 'cluster-test');
  assert.match(await authReply(a, ALICE.password), /^535 5\.7\.8 /, 'a refuses alice on its own state');
  assert.match(await authReply(b, ALICE.password), /^235 /, 'b could not hear of it');
  assert.equal(a.logs.filter((line) => line.event === 'cluster.redis.down').length, 1, 'the outage is one log line');

  await redis.start();
  await waitFor(() => up(a) && up(b), 10_000, 'both instances to reconnect');
  await waitFor(async () => /^535 5\.7\.8 /.test(await authReply(b, ALICE.password)), 10_000, 'b refuses alice once a has told it', 200);
  assert.equal(b.relay.accounts?.suspects()[0]?.state, 'locked');
});
