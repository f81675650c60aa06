import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createQueueIdGenerator, isQueueId, queueIdTime } from '../../src/spool/queue-id.ts';
import { foldJournal, encodeEvent } from '../../src/spool/state-journal.ts';
import { decodeSpoolHeader, encodeSpoolHeader } from '../../src/spool/spool-file.ts';

test('queue ids are unique, sortable by time, file-name safe, optionally prefixed', () => {
  let t = 1_700_000_000_000;
  const next = createQueueIdGenerator({ now: () => t });
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 100 === 0) t += 1;
    ids.push(next());
  }
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
  for (const id of ids) assert.match(id, /^[0-9A-Z]{17}$/);
  assert.equal(queueIdTime(ids[0] as string), 1_700_000_000_001);
  // A clock stepping back never produces an older id.
  t -= 5000;
  const after = next();
  assert.ok(after > (ids[ids.length - 1] as string));
  const prefixed = createQueueIdGenerator({ now: () => t, instance: 'relay-2' })();
  assert.match(prefixed, /^relay-2-[0-9A-Z]{17}$/);
  assert.ok(isQueueId(prefixed));
  assert.equal(queueIdTime(prefixed), t);
  for (const bad of ['', '../etc/passwd', 'abc', 'x'.repeat(17), `a/b-${'A'.repeat(17)}`]) assert.equal(isQueueId(bad), false, bad);
});

test('spool header round trip, and corrupt or incomplete headers are told apart', () => {
  const header = encodeSpoolHeader('ID1', { sender: '', recipients: ['a@b.test'], clientIp: '::1', helo: 'h', listener: 'mx', receivedAt: 5 });
  const parsed = decodeSpoolHeader(Buffer.concat([header, Buffer.from('body')]));
  assert.ok(parsed.ok);
  assert.equal(parsed.envelope.id, 'ID1');
  assert.equal(parsed.envelope.sender, '');
  assert.equal(parsed.bodyOffset, header.length);
  assert.deepEqual(decodeSpoolHeader(header.subarray(0, 20)), { ok: false, reason: 'incomplete' });
  assert.deepEqual(decodeSpoolHeader(Buffer.from('garbage that is long enough\n')), { ok: false, reason: 'corrupt' });
});

test('journal fold applies events in order and skips torn or broken lines', () => {
  const env = { id: 'I', sender: 's@x.test', recipients: ['a@x.test', 'b@x.test'], clientIp: '::1', helo: 'h', listener: 'mx', receivedAt: 0 };
  const text =
    encodeEvent({ at: 1, kind: 'attempt', attempts: 1, next: 100, rcpt: { 'a@x.test': { s: 'deferred', x: '451' }, 'b@x.test': { s: 'delivered' } } }) +
    'not json\n' +
    encodeEvent({ at: 2, kind: 'attempt', attempts: 2, next: 200, rcpt: { 'a@x.test': { s: 'deferred', x: '452' }, 'zz@x.test': { s: 'failed' } } }) +
    '{"at":3,"kind":"attempt","attempts":3,"rcpt":{"a@x.test":{"s":"delivered"}}}';
  const state = foldJournal(env, text);
  assert.equal(state.attempts, 2);
  assert.equal(state.nextAttemptAt, 200);
  assert.equal(state.recipients.get('a@x.test')?.status, 'deferred');
  assert.equal(state.recipients.get('a@x.test')?.reply, '452');
  assert.equal(state.recipients.get('b@x.test')?.status, 'delivered');
  assert.equal(state.recipients.has('zz@x.test'), false);
  assert.equal(state.history.length, 2);
});
