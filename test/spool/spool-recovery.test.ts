import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createQueueIdGenerator, queueIdTime } from '../../src/spool/queue-id.ts';
import { mergeIndex } from '../../src/spool/spool-recovery.ts';

test('the index merges queue files and segment records, oldest id first; a segment message is due at its accept time', () => {
  let clock = 1_000_000;
  const nextId = createQueueIdGenerator({ now: () => clock });
  const ids = Array.from({ length: 4 }, () => {
    clock += 1000;
    return nextId();
  });
  const [a, b, c, d] = ids as [string, string, string, string];
  const files = new Map([
    [b, 5],
    [d, 7],
  ]);
  const merged = mergeIndex(files, [c, a]);
  assert.deepEqual([...merged.keys()], [a, b, c, d]);
  assert.equal(merged.get(b), 5, 'a file keeps the due time from its journal');
  assert.equal(merged.get(a), queueIdTime(a));
  assert.equal(merged.get(c), queueIdTime(c));
});

test('without segment records the scanned index is used as it is', () => {
  const files = new Map([['X', 1]]);
  assert.equal(mergeIndex(files, []), files);
});
