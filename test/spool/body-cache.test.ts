import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyCache } from '../../src/spool/body-cache.ts';
import type { StoredEnvelope } from '../../src/spool/spool-file.ts';

const env = (id: string): StoredEnvelope => ({ id, sender: 's@x.test', recipients: ['r@y.test'], clientIp: '127.0.0.1', helo: 'h', listener: 'mx', receivedAt: 0 });

test('the body cache keeps the newest bodies within its byte limit, oldest evicted first', () => {
  const cache = new BodyCache(10, 8);
  cache.put('A', env('A'), 5, Buffer.alloc(4));
  cache.put('B', env('B'), 5, Buffer.alloc(4));
  assert.equal(cache.bytes, 8);
  cache.put('C', env('C'), 5, Buffer.alloc(4));
  assert.equal(cache.get('A'), undefined, 'the oldest went to make room');
  assert.equal(cache.get('B')?.body.length, 4);
  assert.equal(cache.get('C')?.bodyOffset, 5);
  assert.equal(cache.bytes, 8);
});

test('the body cache refuses bodies over its per-body limit, and everything when its limit is 0', () => {
  const cache = new BodyCache(100, 8);
  cache.put('A', env('A'), 0, Buffer.alloc(9));
  assert.equal(cache.get('A'), undefined);
  const off = new BodyCache(0, 8);
  off.put('A', env('A'), 0, Buffer.alloc(1));
  assert.equal(off.get('A'), undefined);
  assert.equal(off.bytes, 0);
});

test('drop and clear give the bytes back', () => {
  const cache = new BodyCache(100, 8);
  cache.put('A', env('A'), 0, Buffer.alloc(3));
  cache.put('B', env('B'), 0, Buffer.alloc(5));
  cache.drop('A');
  cache.drop('missing');
  assert.equal(cache.bytes, 5);
  cache.clear();
  assert.equal(cache.bytes, 0);
  assert.equal(cache.get('B'), undefined);
});
