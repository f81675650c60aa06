// The shared-state pieces of src/cluster against a real redis-server (started
// here on a free loopback port): AUTH failure counters with the same
// semantics as the in-process store, rate counts shared by two links (two
// instances), the DNSBL second level, and what an outage does: fall back or
// fail closed at once, one log line per outage, never a wait longer than the
// command timeout (a SIGSTOPped server), and sharing again once it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisServer, type RedisServer } from '../helpers/cluster-servers.ts';
import { captureLogger } from '../helpers/dnsbl-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { openRedisLink, redactRedisUrl } from '../../src/cluster/redis-link.ts';
import { RedisAuthFailureStore, SharedAuthFailureStore } from '../../src/cluster/redis-auth-failure-store.ts';
import { SharedRateCounter } from '../../src/cluster/shared-rate-counter.ts';
import { redisDnsblCache } from '../../src/cluster/redis-dnsbl-cache.ts';
import { ClusterError } from '../../src/cluster/errors.ts';
import { MemoryAuthFailureStore, type AuthFailureStore, type FailureLimits } from '../../src/auth/failure-store.ts';
import { createDnsResolver } from '../../src/config/dns.ts';
import { DnsblChecker } from '../../src/facts/dnsbl/dnsbl-checker.ts';
import { policyFrom } from '../helpers/dnsbl-fixtures.ts';
import { evaluateDnsbl } from '../../src/policy/dnsbl-rule.ts';

const TIMEOUT_MS = 200;

async function withRedis(t: { after: (fn: () => Promise<void>) => void }): Promise<RedisServer> {
  const redis = await startRedisServer();
  t.after(() => redis.close());
  return redis;
}

async function link(t: { after: (fn: () => Promise<void>) => void }, redis: RedisServer, options: { failOpen?: boolean; instance?: string } = {}) {
  const log = captureLogger();
  const opened = openRedisLink({
    url: redis.url, instance: options.instance ?? 'a', commandTimeoutMs: TIMEOUT_MS, failOpen: options.failOpen ?? true,
    logger: log.logger, probeIntervalMs: 100,
  });
  t.after(() => opened.close());
  assert.equal(await opened.waitReady(5000), true, 'connected');
  return { link: opened, log };
}

const events = (log: ReturnType<typeof captureLogger>, event: string): number => log.lines.filter((line) => line.event === event).length;

test('AUTH failures in Redis follow the in-process store step by step: count, lock at the limit, reset keeps the lock', async (t) => {
  const redis = await withRedis(t);
  const { link: l } = await link(t, redis);
  const stores: Array<[string, AuthFailureStore]> = [
    ['memory', new MemoryAuthFailureStore()],
    ['redis', new RedisAuthFailureStore(l.client, `test:${Date.now()}:`)],
  ];
  const limits: FailureLimits = { windowMs: 60_000, lockAfter: 3, lockMs: 60_000 };
  for (const [name, store] of stores) {
    const steps: Array<[string, number, boolean]> = [];
    const record = async (label: string, op: () => Promise<{ failures: number; lockedForMs: number }>): Promise<void> => {
      const state = await op();
      steps.push([label, state.failures, state.lockedForMs > 0]);
    };
    await record('peek', () => store.peek('ip:192.0.2.1'));
    await record('fail 1', () => store.recordFailure('ip:192.0.2.1', limits));
    await record('fail 2', () => store.recordFailure('ip:192.0.2.1', limits));
    await record('fail 3 locks', () => store.recordFailure('ip:192.0.2.1', limits));
    await record('peek locked', () => store.peek('ip:192.0.2.1'));
    await store.reset('ip:192.0.2.1');
    await record('reset keeps the lock', () => store.peek('ip:192.0.2.1'));
    await record('other key', () => store.recordFailure('user:bob', limits));
    await store.reset('user:bob');
    await record('other key reset', () => store.peek('user:bob'));
    assert.deepEqual(steps, [
      ['peek', 0, false],
      ['fail 1', 1, false],
      ['fail 2', 2, false],
      ['fail 3 locks', 0, true],
      ['peek locked', 0, true],
      ['reset keeps the lock', 0, true],
      ['other key', 1, false],
      ['other key reset', 0, false],
    ], name);
  }
  // Both keys expire in Redis (nothing is kept forever).
  const store = new RedisAuthFailureStore(l.client, 'ttl:');
  await store.recordFailure('ip:192.0.2.9', { windowMs: 200, lockAfter: 5, lockMs: 200 });
  assert.ok((await l.client.pttl('ttl:auth:fail:ip:192.0.2.9')) > 0);
  await waitFor(async () => (await store.peek('ip:192.0.2.9')).failures === 0, 3000, 'the failure window to end');
});

test('two instances count rates in one place; a refund through either takes the event back', async (t) => {
  const redis = await withRedis(t);
  const a = await link(t, redis, { instance: 'a' });
  const b = await link(t, redis, { instance: 'b' });
  const prefix = `rate-test:${Date.now()}:`;
  const counterA = new SharedRateCounter({ link: a.link, keyPrefix: prefix, failOpen: true });
  const counterB = new SharedRateCounter({ link: b.link, keyPrefix: prefix, failOpen: true });
  assert.equal((await counterA.add('msg:ip:192.0.2.7', 3_600_000)).count, 1);
  assert.equal((await counterB.add('msg:ip:192.0.2.7', 3_600_000)).count, 2);
  const third = await counterA.add('msg:ip:192.0.2.7', 3_600_000);
  assert.equal(third.count, 3);
  assert.ok(third.resetAt > Date.now() + 3_500_000, 'the window is the hour');
  await counterB.refund('msg:ip:192.0.2.7', 3_600_000, third);
  assert.equal((await counterB.add('msg:ip:192.0.2.7', 3_600_000)).count, 3, 'refunded, then counted again');
  assert.equal((await counterA.add('msg:ip:192.0.2.8', 60_000)).count, 1, 'another key, another count');
  assert.equal(a.link.health.status().failedOperations, 0);
});

test('Redis down: fail open counts in process at once, with ONE log line; fail closed throws; both share again when it returns', async (t) => {
  const redis = await withRedis(t);
  const open = await link(t, redis, { instance: 'open' });
  const closed = await link(t, redis, { instance: 'closed', failOpen: false });
  const prefix = `outage:${Date.now()}:`;
  const counterOpen = new SharedRateCounter({ link: open.link, keyPrefix: prefix, failOpen: true });
  const counterClosed = new SharedRateCounter({ link: closed.link, keyPrefix: prefix, failOpen: false });
  const authClosed = new SharedAuthFailureStore({ link: closed.link, keyPrefix: prefix, failOpen: false });
  assert.equal((await counterOpen.add('k', 60_000)).count, 1);
  assert.equal((await counterClosed.add('k', 60_000)).count, 2);

  await redis.stop();
  await waitFor(() => !open.link.health.usable && !closed.link.health.usable, 5000, 'both links to see the outage');
  // Many operations during the outage: each falls back (or fails) at once.
  const counts: number[] = [];
  for (let i = 0; i < 20; i++) counts.push((await counterOpen.add('k', 60_000)).count);
  assert.deepEqual(counts, Array.from({ length: 20 }, (_, i) => i + 1), 'counted in this process, from scratch');
  await assert.rejects(counterClosed.add('k', 60_000), (error: unknown) => error instanceof ClusterError && error.code === 'REDIS_DOWN');
  await assert.rejects(authClosed.peek('ip:192.0.2.1'), (error: unknown) => error instanceof ClusterError);
  assert.equal(events(open.log, 'cluster.redis.down'), 1, 'one loud line per outage, not one per command');
  assert.equal(open.log.lines.find((line) => line.event === 'cluster.redis.down')?.level, 50, 'at error level');
  assert.ok(open.link.health.status().skippedOperations >= 20);
  assert.equal(open.link.health.status().up, false);

  await redis.start();
  await waitFor(() => open.link.health.usable && closed.link.health.usable, 10_000, 'both links back up');
  assert.equal(events(open.log, 'cluster.redis.up'), 1);
  assert.equal(events(open.log, 'cluster.redis.down'), 1);
  // The restarted server is empty; both count in it again, together.
  assert.equal((await counterOpen.add('k', 60_000)).count, 1);
  assert.equal((await counterClosed.add('k', 60_000)).count, 2);
  assert.equal(open.link.health.status().outages, 1);
});

test('a hung Redis (SIGSTOP) costs at most the command timeout once, then nothing until it answers again', async (t) => {
  const redis = await withRedis(t);
  const { link: l, log } = await link(t, redis);
  const counter = new SharedRateCounter({ link: l, keyPrefix: 'hung:', failOpen: true });
  await counter.add('k', 60_000);
  redis.pause();
  t.after(() => redis.resume());
  // The connection stays open; the server just does not answer.
  const error = await l.run(() => l.client.get('hung:x')).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ClusterError, String(error));
  assert.equal(error.code, 'REDIS_TIMEOUT');
  // Now skipped without waiting at all: the answer is the in-process fallback.
  const skipped = await l.run(() => l.client.get('hung:x')).then(() => undefined, (e: unknown) => e);
  assert.equal(skipped instanceof ClusterError && skipped.code, 'REDIS_DOWN');
  assert.equal((await counter.add('k', 60_000)).count, 1, 'the fallback counted it');
  assert.equal(events(log, 'cluster.redis.down'), 1);
  redis.resume();
  await waitFor(() => l.health.usable, 5000, 'the probe to find it answering again');
  assert.equal((await counter.add('k', 60_000)).count, 2, 'the shared count was kept');
});

test('the DNSBL cache second level in Redis: another instance gets the answer without a DNS query', async (t) => {
  const redis = await withRedis(t);
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.add({ name: '3.2.0.192.bl.test', type: 'A', data: '127.0.0.2', ttl: 300 });
  const prefix = `dnsbl-test:${Date.now()}:`;
  const checkers = await Promise.all(['a', 'b'].map(async (instance) => {
    const { link: l } = await link(t, redis, { instance });
    const resolver = createDnsResolver({ servers: [{ host: dns.host, port: dns.port }], timeout: 1500, tries: 1 });
    return new DnsblChecker({ policy: policyFrom('[[zones]]\nzone = "bl.test"\n'), resolver, logger: captureLogger().logger, secondLevelCache: redisDnsblCache(l, prefix) });
  }));
  const [a, b] = checkers as [DnsblChecker, DnsblChecker];
  assert.equal(evaluateDnsbl(await a.check('192.0.2.3'), a.policy).verdict, 'reject');
  // The write is fire and forget: wait until it landed.
  const { link: reader } = await link(t, redis, { instance: 'reader' });
  await waitFor(async () => (await reader.client.exists(`${prefix}dnsbl:A 3.2.0.192.bl.test`)) === 1, 3000, 'the shared entry');
  assert.ok((await reader.client.pttl(`${prefix}dnsbl:A 3.2.0.192.bl.test`)) > 250_000, 'kept for the answer TTL');
  assert.equal(evaluateDnsbl(await b.check('192.0.2.3'), b.policy).verdict, 'reject');
  assert.equal(dns.queries('3.2.0.192.bl.test', 'A'), 1);
  assert.equal(dns.queries('3.2.0.192.bl.test', 'TXT'), 1, 'the (absent) reply text is shared too');
  assert.equal(b.stats().cache.secondLevelHits, 2);
  assert.equal(b.stats().cache.misses, 0);
});

test('the Redis address shown in logs and the dashboard never carries the password', () => {
  assert.equal(redactRedisUrl('redis://:s3cret@10.0.0.5:6380/2'), 'redis://10.0.0.5:6380/2');
  assert.equal(redactRedisUrl('rediss://user:s3cret@cache.example'), 'rediss://cache.example:6379');
});
