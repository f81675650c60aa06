import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinHeap } from '../../src/delivery/min-heap.ts';
import { RETRY_LATER_MS, Schedule, timerDelay } from '../../src/delivery/runner-schedule.ts';
import type { Spool } from '../../src/spool/spool.ts';

test('the min-heap gives entries back in due order, equal dues included', () => {
  const heap = new MinHeap();
  const dues = [50, 10, 40, 10, 30, 20, 60, 0];
  dues.forEach((due, i) => heap.push({ due, id: `m${i}` }));
  assert.equal(heap.size, dues.length);
  assert.equal(heap.peek()?.due, 0);
  const out: number[] = [];
  for (let e = heap.pop(); e; e = heap.pop()) out.push(e.due);
  assert.deepEqual(out, [...dues].sort((a, b) => a - b));
  assert.equal(heap.pop(), undefined);
});

test('the timer is set for the time left, never negative, at most a minute', () => {
  assert.equal(timerDelay(1_500, 1_000), 500);
  assert.equal(timerDelay(500, 1_000), 0);
  assert.equal(timerDelay(10_000_000, 0), 60_000);
});

/** The part of a spool the schedule touches: the in-memory due times. */
function dueTimes(): { spool: Spool; due: Map<string, number> } {
  const due = new Map<string, number>();
  return { due, spool: { setDue: (id: string, at: number) => due.set(id, at) } as unknown as Spool };
}

test('a burst of pump requests runs one pump; after stop none runs', async () => {
  const { spool } = dueTimes();
  let pumps = 0;
  const schedule = new Schedule(spool, () => 0, () => pumps++);
  for (let i = 0; i < 100; i++) schedule.requestPump();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pumps, 1);
  schedule.requestPump();
  schedule.stop();
  schedule.requestPump();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(pumps, 2, 'the request queued before stop still runs the pump, which checks stopping itself');
  schedule.wakeAt(0);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(pumps, 2, 'no timer after stop');
});

test('moveTo and retryLater set the due time in the spool and push a heap entry', () => {
  const { spool, due } = dueTimes();
  const schedule = new Schedule(spool, () => 1_000, () => undefined);
  schedule.add('A', 5);
  schedule.moveTo('B', 3);
  schedule.retryLater('C');
  assert.equal(due.get('A'), undefined, 'add() only pushes: the spool already has the due time');
  assert.equal(due.get('B'), 3);
  assert.equal(due.get('C'), 1_000 + RETRY_LATER_MS);
  assert.deepEqual([schedule.pop()?.id, schedule.pop()?.id, schedule.pop()?.id], ['B', 'A', 'C']);
  schedule.stop();
});
