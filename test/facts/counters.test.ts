// The in-process counters: rate-limiter-flexible used as a counter (counts
// past any limit, refunds only within the window they belong to) and the
// open-connection counter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlexibleRateCounter } from '../../src/facts/limits/rate-counter.ts';
import { MemoryConcurrencyCounter } from '../../src/facts/limits/counters.ts';

const HOUR = 3_600_000;

test('the rate counter counts and never refuses; keys and windows are apart', async () => {
  const counter = new FlexibleRateCounter();
  const counts: number[] = [];
  for (let i = 0; i < 5; i++) counts.push((await counter.add('k', HOUR)).count);
  assert.deepEqual(counts, [1, 2, 3, 4, 5]);
  assert.equal((await counter.add('other', HOUR)).count, 1);
  assert.equal((await counter.add('k', 60_000)).count, 1, 'another window length is another count');
  assert.equal((await counter.add('k', HOUR, 10)).count, 15, 'several points at once');
  const added = await counter.add('k', HOUR);
  assert.ok(added.resetAt > Date.now() && added.resetAt <= Date.now() + HOUR, 'the window ends within the hour');
});

test('a refund takes back what was counted in the same window, never more', async () => {
  const counter = new FlexibleRateCounter();
  await counter.add('k', HOUR);
  const second = await counter.add('k', HOUR);
  await counter.refund('k', HOUR, second);
  assert.equal((await counter.add('k', HOUR)).count, 2);
  // A refund that belongs to another (older) window is ignored.
  await counter.refund('k', HOUR, { count: 1, resetAt: second.resetAt - HOUR });
  assert.equal((await counter.add('k', HOUR)).count, 3);
  // Nothing counted (the window is gone): nothing to refund, no negative count.
  await counter.refund('gone', HOUR, second);
  assert.equal((await counter.add('gone', HOUR)).count, 1);
  // Refunding more than was counted stops at zero.
  const one = await counter.add('z', HOUR);
  await counter.refund('z', HOUR, one, 5);
  assert.equal((await counter.add('z', HOUR)).count, 1);
});

test('open connections are counted per key and forgotten at zero', async () => {
  const counter = new MemoryConcurrencyCounter();
  assert.equal(await counter.acquire('a'), 1);
  assert.equal(await counter.acquire('a'), 2);
  assert.equal(await counter.acquire('b'), 1);
  await counter.release('a');
  assert.equal(counter.current('a'), 1);
  await counter.release('a');
  await counter.release('b');
  assert.equal(counter.size, 0);
  await counter.release('a');
  assert.equal(counter.current('a'), 0, 'a stray release never goes below zero');
});
