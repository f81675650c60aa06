import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminFailures } from '../../src/delivery/queue-commands.ts';
import { crashReport } from '../../src/delivery/runner-dispatch.ts';
import { queueCap, RunnerState, singleQueueKey } from '../../src/delivery/runner-state.ts';
import { initialState, applyEvent } from '../../src/spool/state-journal.ts';
import type { StoredEnvelope } from '../../src/spool/spool-file.ts';
import { tempDir, testConfig } from '../helpers/spool-fixtures.ts';

test('a destination queue holds 4 x its concurrency jobs (at least 32), at most a quarter of maxLoaded, at least 1', () => {
  assert.equal(queueCap(2, 1000), 32);
  assert.equal(queueCap(20, 1000), 80);
  assert.equal(queueCap(20, 256), 64);
  assert.equal(queueCap(20, 2), 1);
});

test('only a smarthost without routes is a single queue', async (t) => {
  const dir = await tempDir(t);
  const smarthost = testConfig(dir, 'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["127.0.0.1:2525"]');
  assert.equal(singleQueueKey(smarthost.delivery), 'smarthost');
  const routed = testConfig(dir, 'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["127.0.0.1:2525"]\n[[delivery.routes]]\ndomains = ["x.test"]\nhosts = ["127.0.0.1:2526"]');
  assert.equal(singleQueueKey(routed.delivery), undefined);
  assert.equal(singleQueueKey(testConfig(dir, '').delivery), undefined);
});

test('drained() resolves at once when idle, else at the idle check after the last attempt', async (t) => {
  const state = new RunnerState(testConfig(await tempDir(t), ''), 256);
  await state.drained();
  state.active = 1;
  let drained = false;
  const waiting = state.drained().then(() => (drained = true));
  state.idleCheck();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(drained, false);
  state.active = 0;
  state.idleCheck();
  await waiting;
  assert.equal(drained, true);
});

test('an attempt that crashed defers every recipient with 4.3.0', () => {
  const report = crashReport(['a@x.test', 'b@x.test']);
  assert.deepEqual(report.tried, []);
  assert.deepEqual(report.results.map((r) => [r.recipient, r.status, r.enhanced]), [
    ['a@x.test', 'deferred', '4.3.0'],
    ['b@x.test', 'deferred', '4.3.0'],
  ]);
});

test('an administrator bounce fails the open recipients only', () => {
  const envelope: StoredEnvelope = { id: 'X', sender: 's@x.test', recipients: ['a@y.test', 'b@y.test', 'c@y.test'], clientIp: '127.0.0.1', helo: 'h', listener: 'mx', receivedAt: 0 };
  const state = applyEvent(initialState(envelope), { at: 1, kind: 'attempt', attempts: 1, next: 2, rcpt: { 'a@y.test': { s: 'delivered' }, 'b@y.test': { s: 'deferred' } } });
  const failed = adminFailures(state, 'gone');
  assert.deepEqual(failed.map((r) => [r.recipient, r.status, r.reply, r.enhanced]), [
    ['b@y.test', 'failed', 'gone', '5.0.0'],
    ['c@y.test', 'failed', 'gone', '5.0.0'],
  ]);
});
