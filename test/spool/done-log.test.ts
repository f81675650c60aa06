import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DirSync } from '../../src/spool/dir-sync.ts';
import { DoneLog, parseDoneMarks } from '../../src/spool/done-log.ts';
import { encodeRecordPrefix, readRecords } from '../../src/spool/segment-record.ts';
import { liveRecords } from '../../src/spool/segments.ts';
import { encodeSpoolHeader } from '../../src/spool/spool-file.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';

function segmentOf(ids: readonly string[]): Buffer {
  return Buffer.concat(
    ids.flatMap((id) => {
      const payload = [encodeSpoolHeader(id, envelope()), rfc822(id)];
      return [encodeRecordPrefix(payload), ...payload];
    }),
  );
}

test('a record is live unless its id is marked done or it has a file of its own', () => {
  const bytes = segmentOf(['A0000000000000001', 'A0000000000000002', 'A0000000000000003']);
  const { records } = readRecords(bytes);
  const live = liveRecords(7, bytes, records, parseDoneMarks('A0000000000000001\nA00000'), new Set(['A0000000000000003']));
  assert.deepEqual(live.map((r) => r.id), ['A0000000000000002']);
  assert.equal(live[0]?.location.seq, 7);
  assert.deepEqual(live[0]?.location, { seq: 7, offset: records[1]?.offset, length: records[1]?.length });
});

test('done marks are gathered into one write; close() leaves them on disk', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, '0000000001.done');
  const log = DoneLog.open(file, new DirSync(dir));
  const marks = [log.mark(['A']), log.mark(['B', 'C'])];
  await Promise.all(marks);
  await log.mark(['D']);
  await log.close();
  assert.deepEqual(await readFile(file, 'latin1'), 'A\nB\nC\nD\n');
  assert.deepEqual([...parseDoneMarks('A\nB\n')].filter((id) => id !== ''), ['A', 'B']);
});

test('close() writes the marks still gathering at once, and their callers are answered', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, '0000000002.done');
  const log = DoneLog.open(file, new DirSync(dir));
  const pending = [log.mark(['E']), log.mark(['F'])];
  await log.close();
  await Promise.all(pending);
  assert.equal(await readFile(file, 'latin1'), 'E\nF\n');
});
