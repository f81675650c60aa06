import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAuthFailureStore, type FailureLimits } from '../../src/auth/failure-store.ts';
import { clientCounterKey, failureKeys } from '../../src/auth/failure-keys.ts';

const LIMITS: FailureLimits = { windowMs: 60_000, lockAfter: 3, lockMs: 300_000 };

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('failures count up within the window and lock at the limit', async () => {
  const time = clock();
  const store = new MemoryAuthFailureStore({ now: time.now });
  assert.deepEqual(await store.peek('k'), { failures: 0, lockedForMs: 0 });
  assert.deepEqual(await store.recordFailure('k', LIMITS), { failures: 1, lockedForMs: 0 });
  time.advance(1000);
  assert.deepEqual(await store.recordFailure('k', LIMITS), { failures: 2, lockedForMs: 0 });
  assert.deepEqual(await store.recordFailure('k', LIMITS), { failures: 0, lockedForMs: 300_000 });
  time.advance(100_000);
  assert.deepEqual(await store.peek('k'), { failures: 0, lockedForMs: 200_000 });
  assert.deepEqual(await store.peek('other'), { failures: 0, lockedForMs: 0 });
});

test('the lock ends after lockMs and the key starts from zero', async () => {
  const time = clock();
  const store = new MemoryAuthFailureStore({ now: time.now });
  for (let i = 0; i < 3; i++) await store.recordFailure('k', LIMITS);
  time.advance(299_999);
  assert.equal((await store.peek('k')).lockedForMs, 1);
  time.advance(1);
  assert.deepEqual(await store.peek('k'), { failures: 0, lockedForMs: 0 });
  assert.equal(store.size, 0, 'an expired key is forgotten');
  assert.deepEqual(await store.recordFailure('k', LIMITS), { failures: 1, lockedForMs: 0 });
});

test('a window starts with its first failure; failures older than it do not count', async () => {
  const time = clock();
  const store = new MemoryAuthFailureStore({ now: time.now });
  await store.recordFailure('k', LIMITS);
  time.advance(30_000);
  await store.recordFailure('k', LIMITS);
  time.advance(30_000); // the window of the first failure has ended
  assert.deepEqual(await store.peek('k'), { failures: 0, lockedForMs: 0 });
  assert.deepEqual(await store.recordFailure('k', LIMITS), { failures: 1, lockedForMs: 0 });
});

test('reset forgets failures but not a lock in force', async () => {
  const time = clock();
  const store = new MemoryAuthFailureStore({ now: time.now });
  await store.recordFailure('a', LIMITS);
  await store.recordFailure('a', LIMITS);
  await store.reset('a');
  assert.deepEqual(await store.peek('a'), { failures: 0, lockedForMs: 0 });
  for (let i = 0; i < 3; i++) await store.recordFailure('b', LIMITS);
  await store.reset('b');
  assert.equal((await store.peek('b')).lockedForMs, 300_000);
});

test('memory stays bounded: expired keys go first, then the least recently failed', async () => {
  const time = clock();
  const store = new MemoryAuthFailureStore({ now: time.now, maxKeys: 10 });
  for (let i = 0; i < 5; i++) await store.recordFailure(`old${i}`, LIMITS);
  time.advance(60_000); // old* expire
  for (let i = 0; i < 10; i++) await store.recordFailure(`new${i}`, LIMITS);
  assert.ok(store.size <= 10, `size ${store.size}`);
  for (let i = 0; i < 10; i++) assert.equal((await store.peek(`new${i}`)).failures, 1, `new${i} kept`);
  for (let i = 0; i < 3; i++) await store.recordFailure('locked', LIMITS); // a lock is the last thing we want to lose
  for (let i = 0; i < 20; i++) await store.recordFailure(`spray${i}`, LIMITS);
  assert.ok(store.size <= 10, `size ${store.size}`);
  assert.equal((await store.peek('new0')).failures, 0, 'least recently failed key evicted');
  assert.equal((await store.peek('locked')).lockedForMs, 300_000, 'a lock outlives unlocked keys');
});

test('counter keys: mapped IPv4 is IPv4, IPv6 counts per /64, user names fold case', () => {
  const rows: Array<[string, string]> = [
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
  ];
  for (const [ip, key] of rows) assert.equal(clientCounterKey(ip), key, ip);
  assert.deepEqual(failureKeys('::ffff:10.0.0.1', 'Alice@Example.com'), { ip: 'ip:10.0.0.1', user: 'user:alice@example.com' });
});
