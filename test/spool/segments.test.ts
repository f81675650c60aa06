import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { openSpool } from '../../src/spool/spool.ts';
import { encodeRecordPrefix, readRecords } from '../../src/spool/segment-record.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';

const logger = silentLogger();

async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, 'segments')).catch(() => [] as string[])).sort();
}

test('records: a torn, zero-filled or damaged stretch is skipped and every whole record around it is found', () => {
  const record = (text: string) => {
    const payload = Buffer.from(text);
    return Buffer.concat([encodeRecordPrefix([payload]), payload]);
  };
  const a = record('first message');
  const b = record('second message');
  const c = record('third message');
  assert.deepEqual(readRecords(Buffer.concat([a, b])).records.length, 2);
  // Torn tail: half of c.
  const torn = readRecords(Buffer.concat([a, b, c.subarray(0, 20)]));
  assert.equal(torn.records.length, 2);
  assert.equal(torn.skippedBytes, 20);
  // A zero-filled tail (size updated, data never written).
  assert.equal(readRecords(Buffer.concat([a, Buffer.alloc(4096)])).records.length, 1);
  // One flipped byte in b's payload: b is skipped by its CRC, c still found.
  const damaged = Buffer.concat([a, b, c]);
  const at = a.length + b.length - 2;
  damaged.writeUInt8(damaged.readUInt8(at) ^ 0x01, at);
  const found = readRecords(damaged);
  assert.equal(found.records.length, 2);
  assert.equal(damaged.toString('latin1', found.records[1]!.offset, found.records[1]!.offset + found.records[1]!.length), 'third message');
});

test('concurrent accepts share fdatasyncs in one segment and all come back after a crash, bytes intact', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const bodies = Array.from({ length: 300 }, (_, i) => rfc822(`message ${i}`));
  const ids = await Promise.all(bodies.map((body) => first.accept(envelope(), body)));
  assert.deepEqual((await segmentNames(dir)).filter((n) => n.endsWith('.seg')).length, 1);
  // No close(): the process died right after the last 250.
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  assert.deepEqual([...second.entries()].map(([id]) => id), ids);
  for (const [i, id] of ids.entries()) {
    const loaded = await second.load(id);
    assert.ok(loaded?.body?.equals(bodies[i] as Buffer), `message ${i} intact`);
    assert.ok(loaded);
    assert.equal(loaded.state.attempts, 0);
  }
});

test('a crash in the middle of an append: the whole records are delivered, the torn one is not', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const a = await first.accept(envelope(), rfc822('a'));
  const b = await first.accept(envelope(), rfc822('b'));
  const [segment] = (await segmentNames(dir)).filter((n) => n.endsWith('.seg'));
  const file = path.join(dir, 'segments', segment as string);
  // Simulate a torn third append: a prefix and part of its payload.
  const payload = Buffer.from('RGSPOOL1 {"id":"torn"');
  await appendFile(file, Buffer.concat([encodeRecordPrefix([Buffer.concat([payload, Buffer.alloc(100)])]), payload]));
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  assert.deepEqual([...second.entries()].map(([id]) => id), [a, b]);
});

test('removed messages stay removed after a restart; finished segments are deleted, the one being written is kept', async (t) => {
  const dir = await tempDir(t);
  // Small segments: about three messages each.
  const spool = await openSpool({ dir, logger, maxSegmentBytes: 3 * 1024 });
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(await spool.accept(envelope(), rfc822(`m${i}`.padEnd(600, '.'))));
  const before = (await segmentNames(dir)).filter((n) => n.endsWith('.seg'));
  assert.ok(before.length >= 3, `several segments (${before.join(', ')})`);
  for (const id of ids.slice(0, 7)) await spool.remove(id);
  const restarted = await openSpool({ dir, logger, maxSegmentBytes: 3 * 1024 });
  assert.deepEqual([...restarted.entries()].map(([id]) => id), ids.slice(7), 'no removed message comes back');
  await restarted.close();
  for (const id of ids.slice(7)) await spool.remove(id);
  await spool.close();
  const last = await openSpool({ dir, logger, maxSegmentBytes: 3 * 1024 });
  t.after(() => last.close());
  assert.equal(last.stats().size, 0);
  assert.deepEqual(await segmentNames(dir), [], 'nothing live: every segment and done log is gone');
});

test('the first journal event moves a message out of its segment; it is never there twice, even if the done mark is lost', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const body = rfc822('deferred one');
  const id = await first.accept(envelope({ recipients: ['a@x.test'] }), body);
  const keep = await first.accept(envelope(), rfc822('another'));
  const next = Date.now() + 600_000;
  await first.record(id, { at: Date.now(), kind: 'attempt', attempts: 1, next, rcpt: { 'a@x.test': { s: 'deferred', x: '451 later' } } });
  assert.deepEqual((await readdir(path.join(dir, 'queue'))).sort(), [`${id}.msg`, `${id}.state`].sort());
  // The file holds exactly the segment payload: header line, then the message bytes.
  const file = await readFile(path.join(dir, 'queue', `${id}.msg`));
  assert.ok(file.subarray(file.indexOf(0x0a) + 1).equals(body));
  // Lose the done marks (a crash before they reached the disk).
  for (const name of await segmentNames(dir)) if (name.endsWith('.done')) await rm(path.join(dir, 'segments', name));
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  assert.deepEqual([...second.entries()].map(([i]) => i).sort(), [id, keep].sort());
  const loaded = await second.load(id);
  assert.equal(loaded?.state.attempts, 1);
  assert.ok(loaded?.body?.equals(body));
  assert.equal(Math.round((second.dueOf(id) ?? 0) / 1000), Math.round(next / 1000));
});

test('a segment whose last record was cut short keeps every earlier message', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await first.accept(envelope(), rfc822(`n${i}`)));
  const [segment] = (await segmentNames(dir)).filter((n) => n.endsWith('.seg'));
  const file = path.join(dir, 'segments', segment as string);
  const size = (await readFile(file)).length;
  await truncate(file, size - 7);
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  assert.deepEqual([...second.entries()].map(([id]) => id), ids.slice(0, 4));
});

test('a segment that cannot be read stops the start with the error and is left alone', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  await first.accept(envelope(), rfc822('kept'));
  await first.close();
  // Not readable as a file (EISDIR here; EIO or EACCES in real life): never taken for an empty, finished segment.
  const odd = path.join(dir, 'segments', '0000000099.seg');
  await mkdir(odd);
  await assert.rejects(openSpool({ dir, logger }), /EISDIR/);
  assert.ok((await stat(odd)).isDirectory(), 'not removed');
  assert.equal((await segmentNames(dir)).filter((n) => n.endsWith('.seg')).length, 2);
});

test('close() waits for a finished segment to be removed: a spool opened next (the CLI after `queue bounce`) never sees its records come back', async (t) => {
  const dir = await tempDir(t);
  // Small segments: the first holds a and b, c starts the next one.
  const spool = await openSpool({ dir, logger, maxSegmentBytes: 1600 });
  const a = await spool.accept(envelope(), rfc822('a'.padEnd(400, '.')));
  const b = await spool.accept(envelope(), rfc822('b'.padEnd(400, '.')));
  const c = await spool.accept(envelope(), rfc822('c'.padEnd(400, '.')));
  const segments = (await segmentNames(dir)).filter((n) => n.endsWith('.seg'));
  assert.equal(segments.length, 2, segments.join(', '));
  await spool.remove(a);
  await spool.remove(b); // the first segment has nothing live: it is removed
  await spool.close();
  assert.deepEqual(
    (await segmentNames(dir)).filter((n) => n.startsWith(path.basename(segments[0] as string, '.seg'))),
    [],
    'the finished segment and its done marks are gone once close() resolves',
  );
  const reader = await openSpool({ dir, logger, exclusive: false });
  t.after(() => reader.close());
  assert.deepEqual([...reader.entries()].map(([id]) => id), [c]);
});

test('a message removed twice at once is marked done once: the other messages of its segment stay', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger, maxSegmentBytes: 1600 });
  const a = await spool.accept(envelope(), rfc822('a'.padEnd(400, '.')));
  const b = await spool.accept(envelope(), rfc822('b'.padEnd(400, '.')));
  await spool.accept(envelope(), rfc822('c'.padEnd(400, '.')));
  // Two removals of the same message in the same turn (a `queue delete` racing the runner's own removal).
  await Promise.allSettled([spool.remove(a), spool.remove(a)]);
  const loaded = await spool.load(b);
  assert.ok(loaded?.body?.toString().includes('b....'));
  await spool.close();
  const restarted = await openSpool({ dir, logger });
  t.after(() => restarted.close());
  assert.ok(restarted.has(b), 'b is still queued after a restart');
  assert.ok(!restarted.has(a));
  assert.ok((await restarted.load(b))?.body?.toString().includes('b....'), 'and its bytes are still on disk');
});

test('removing from a read-only spool (the CLI while a server runs) fails loudly and changes nothing', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  const id = await spool.accept(envelope(), rfc822('kept'));
  await spool.close();
  const reader = await openSpool({ dir, logger, exclusive: false });
  t.after(() => reader.close());
  await assert.rejects(reader.remove(id), /read-only/);
  assert.ok(reader.has(id));
  const again = await openSpool({ dir, logger, exclusive: false });
  t.after(() => again.close());
  assert.ok(again.has(id), 'nothing was marked done');
});

test('a message removed while its first record() moves it out of its segment stays removed: no queue file or journal survives', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger, maxSegmentBytes: 1600 });
  const a = await spool.accept(envelope(), rfc822('a'.padEnd(400, '.')));
  const b = await spool.accept(envelope(), rfc822('b'.padEnd(400, '.')));
  // The runner's first deferral (which writes queue/<id>.msg) racing a `queue delete` of the same message.
  const results = await Promise.allSettled([spool.record(a, { at: Date.now(), kind: 'attempt', attempts: 1, rcpt: {}, next: Date.now() + 60_000 }), spool.remove(a)]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled']);
  assert.ok(!spool.has(a));
  assert.equal(await spool.load(a), undefined, 'the removed message cannot be loaded');
  await spool.close();
  const restarted = await openSpool({ dir, logger });
  t.after(() => restarted.close());
  assert.deepEqual([...restarted.entries()].map(([id]) => id), [b], 'after a restart only b is queued');
  const queued = await readdir(path.join(dir, 'queue')).catch(() => [] as string[]);
  assert.deepEqual(queued.filter((n) => n.startsWith(a)), [], `nothing of ${a} is left in queue/`);
});
