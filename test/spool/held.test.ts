// Held messages in the spool (issue 19 item 1): the hold is journalled (or,
// at accept time, written with the message), survives a restart, is counted
// apart, and a release makes the message due again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openSpool } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { HoldMark } from '../../src/spool/state-journal.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';

const logger = silentLogger();
const DAY = 86_400_000;

function mark(at: number, reason = 'suspect burst'): HoldMark {
  return { at, until: at + 5 * DAY, reason, by: 'admin' };
}

test('hold: journalled with its mark, not due before it expires, counted apart, and it survives a restart', async (t) => {
  const dir = await tempDir(t);
  let spool = await openSpool({ dir, logger });
  const a = await spool.accept(envelope({ authUser: 'alice' }), rfc822('a'));
  const b = await spool.accept(envelope(), rfc822('b'));
  const now = Date.now();
  assert.equal(await spool.hold(a, mark(now)), true);
  assert.equal(await spool.hold(a, mark(now)), false, 'already held');
  assert.equal(await spool.hold('A0000000000000099', mark(now)), false, 'no such message');
  assert.equal(spool.isHeld(a), true);
  assert.equal(spool.isHeld(b), false);
  assert.equal(spool.dueOf(a), now + 5 * DAY);
  assert.deepEqual(spool.stats().held, 1);
  assert.equal(spool.stats().size, 2);
  const loaded = await spool.load(a);
  assert.deepEqual(loaded?.state.held, mark(now));
  const names = await readdir(path.join(dir, 'queue'));
  assert.ok(names.includes(`${a}.held`) && names.includes(`${a}.state`) && names.includes(`${a}.msg`), names.join(' '));
  await spool.close();

  spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  assert.equal(spool.isHeld(a), true, 'held after a restart');
  assert.equal(spool.stats().held, 1);
  // The journal's mtime carries the due time (to within its sub-millisecond precision).
  assert.ok(Math.abs((spool.dueOf(a) ?? 0) - (now + 5 * DAY)) < 1, 'due when the hold expires (the journal mtime)');
  assert.deepEqual((await spool.load(a))?.state.held, mark(now));

  const later = now + 1000;
  assert.equal(await spool.release(b, later), false, 'not held');
  assert.equal(await spool.release(a, later), true);
  assert.equal(spool.isHeld(a), false);
  assert.equal(spool.dueOf(a), later);
  const released = await spool.load(a);
  assert.equal(released?.state.held, undefined);
  assert.deepEqual(released?.state.history.map((e) => e.kind), ['hold', 'release']);
  assert.ok(!(await readdir(path.join(dir, 'queue'))).includes(`${a}.held`), 'marker gone');
  await spool.close();
  spool = await openSpool({ dir, logger });
  assert.equal(spool.isHeld(a), false, 'released after a restart');
  assert.equal(spool.stats().held, 0);
});

test('held at accept time (AcceptOptions.hold): small in a segment, large in a file; held across a restart; removal forgets it', async (t) => {
  const dir = await tempDir(t);
  let spool = await openSpool({ dir, logger });
  const now = Date.now();
  const accepted: Array<[string, number]> = [];
  spool.onAccepted((id, due) => accepted.push([id, due]));
  const small = await spool.accept(envelope({ authUser: 'bot' }), rfc822('small'), { hold: mark(now, 'volume trigger') });
  const big = await spool.accept(envelope({ authUser: 'bot' }), Readable.from([Buffer.alloc(300 * 1024, 0x61)]), { hold: mark(now, 'volume trigger') });
  const plain = await spool.accept(envelope(), rfc822('plain'));
  assert.deepEqual(accepted, [[small, now + 5 * DAY], [big, now + 5 * DAY], [plain, accepted[2]?.[1]]]);
  assert.equal(spool.stats().held, 2);
  assert.deepEqual((await spool.load(small))?.state.held, mark(now, 'volume trigger'));
  assert.deepEqual((await spool.load(big))?.state.held, mark(now, 'volume trigger'));
  assert.equal((await spool.load(plain))?.state.held, undefined);
  await spool.close();

  spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  assert.deepEqual(spool.heldIds().sort(), [small, big].sort());
  assert.equal(spool.dueOf(small), now + 5 * DAY);
  assert.deepEqual((await spool.load(small))?.state.held, mark(now, 'volume trigger'));
  // Releasing the segment message moves it to a file of its own with a journal.
  assert.equal(await spool.release(small, now + 1), true);
  assert.equal((await spool.load(small))?.state.held, undefined);
  await spool.remove(big);
  assert.equal(spool.stats().held, 0);
  assert.ok(!(await readdir(path.join(dir, 'queue'))).some((n) => n.endsWith('.held')));
});

test('reconcileHold: a marker lost or left behind by a crash follows the state a load returns', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  const id = await spool.accept(envelope(), rfc822('x'));
  const now = Date.now();
  await spool.hold(id, mark(now));
  await spool.reconcileHold(id, undefined);
  assert.equal(spool.isHeld(id), false);
  await spool.reconcileHold(id, mark(now));
  assert.equal(spool.isHeld(id), true);
  assert.ok((await readdir(path.join(dir, 'queue'))).includes(`${id}.held`));
});
