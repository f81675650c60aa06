// The writer's encoder (writeSession into a FrameBuffer) writes exactly the
// bytes of the record definition (frameRecord(encodeSession(...))): journals
// written before and after it replay the same. Checked on the bench's session
// and on varied sessions setting every optional key, with strings JSON must
// escape; and the framed lines read back through the segment reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeSession, writeSession } from '../../src/journal/journal-record.ts';
import { FrameBuffer, emptyReadStats, frameRecord, readSegment, segmentName } from '../../src/journal/journal-segment.ts';
import type { SessionRecord } from '../../src/session/session-record.ts';
import { benchSession, closedAtOf, variedSessions } from '../helpers/journal-sessions.ts';

/** One session's framed line as FrameBuffer writes it (undefined when writeSession writes none), and the size end() counts. */
function framed(frames: FrameBuffer, session: SessionRecord, closedAt: number): { line: string; size: number } | undefined {
  frames.begin();
  if (!writeSession(frames, session, closedAt)) {
    frames.abort();
    assert.deepEqual(frames.take(), [], 'nothing written');
    return undefined;
  }
  const size = frames.end();
  frames.commit();
  return { line: Buffer.concat(frames.take()).toString('utf8'), size };
}

test('writeSession writes frameRecord(encodeSession(...)) for the bench session and varied ones', () => {
  const sessions = [benchSession(1), ...variedSessions(1, 1500), ...variedSessions(2, 1500)];
  const frames = new FrameBuffer();
  const keys = new Set<string>();
  let compared = 0;
  sessions.forEach((session, n) => {
    const closedAt = closedAtOf(session, n);
    const record = encodeSession(session, closedAt);
    const written = framed(frames, session, closedAt);
    if (record === undefined) {
      assert.equal(written, undefined, `session ${n}`);
      return;
    }
    const expected = frameRecord(record);
    assert.equal(written?.line, expected, `session ${n}`);
    assert.equal(written?.size, Buffer.byteLength(expected), `session ${n}: the size the writer counts (the line's bytes on disk)`);
    compared++;
    for (const key of Object.keys(record)) keys.add(key);
    for (const step of record.s) {
      for (const key of Object.keys(step)) keys.add(`s.${key}`);
      for (const key of Object.keys(step.f ?? {})) keys.add(`s.f.${key}`);
    }
  });
  assert.ok(compared > 2500, `${compared} records compared`);
  // Every key a record, step or facts object can have was among them.
  const expected = ['v', 'id', 't', 'ms', 'l', 'r', 'src', 'ip', 'px', 'li', 'g', 'dn', 's', 'cut', 's.c', 's.i', 's.m', 's.p', 's.tls', 's.h', 's.e', 's.u', 's.f', 's.d'];
  for (const key of [...expected, ...['cn', 'dn', 'rt', 'sd', 'au', 'ms', 'rp'].map((k) => `s.f.${k}`)]) assert.ok(keys.has(key), `key ${key} covered`);
});

test('FrameBuffer writes frameRecord\'s bytes, across chunk boundaries and takes, and the reader reads them back', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-journal-encode-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const bench = benchSession(0);
  // A cut session's line (~200 KiB) is longer than a whole chunk.
  const cut = { ...bench, steps: Array.from({ length: 1000 }, (_, i) => bench.steps![i % bench.steps!.length]!) };
  const sessions = [...variedSessions(3, 600), cut, ...Array.from({ length: 200 }, (_, n) => benchSession(n)), cut];
  const frames = new FrameBuffer();
  const expected: string[] = [];
  const written: Buffer[] = [];
  sessions.forEach((session, n) => {
    const record = encodeSession(session, closedAtOf(session, n));
    if (!record) return;
    expected.push(frameRecord(record));
    frames.begin();
    writeSession(frames, session, closedAtOf(session, n));
    frames.end();
    if (n % 11 === 0) {
      frames.abort(); // a line dropped after end() (the writer's max_buffered) leaves no trace
      frames.begin();
      frames.ascii('{"torn":');
      frames.abort(); // nor does one abandoned midway (an encoder that threw)
      expected.pop();
    } else frames.commit();
    if (n % 37 === 0) written.push(...frames.take());
  });
  written.push(...frames.take());
  assert.deepEqual(frames.take(), [], 'nothing left after a take');
  const bytes = Buffer.concat(written);
  assert.ok(bytes.length > 3 * 64 * 1024, 'several chunks were filled');
  assert.ok(bytes.equals(Buffer.from(expected.join(''), 'utf8')), 'the same bytes as frameRecord');
  const file = path.join(dir, segmentName(1_700_000_000_000));
  await writeFile(file, bytes);
  const stats = emptyReadStats();
  const ids: string[] = [];
  await readSegment(file, {}, stats, (record) => void ids.push(record.id));
  assert.equal(stats.corruptRecords, 0);
  assert.equal(ids.length, expected.length);
});
