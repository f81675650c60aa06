// The decision journal on disk: batches, rotation by size and by age, a
// corrupt or unreadable segment skipped with a count, a write error that
// drops and counts records, logs once and resumes by itself.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { JournalWriter } from '../../src/journal/journal-writer.ts';
import { emptyReadStats, listSegments, readJournal, segmentName } from '../../src/journal/journal-segment.ts';
import type { JournalRecord } from '../../src/journal/journal-record.ts';
import type { SessionRecord } from '../../src/session/session-record.ts';
import { testSnapshot } from '../helpers/policy-snapshot.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }).catch(() => undefined));
  return path.join(dir, 'journal');
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

const snapshot = testSnapshot();

/** A closed session as the front door hands it over: connect, MAIL, RCPT accepted. */
function session(n: number, at: number): SessionRecord {
  const listener = { ...snapshot.config.listeners[0]!, name: 'mx', authOffered: false };
  return {
    sessionId: `s${n}`,
    listener,
    clientIp: '192.0.2.10',
    clientPort: 1025,
    peerIp: '192.0.2.10',
    localIp: '127.0.0.1',
    localPort: 25,
    connectedAt: at,
    snapshot,
    tls: false,
    esmtp: true,
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 0,
    steps: [
      { call: 'connect', facts: { connection: { counts: { global: 1, ip: 1 } } }, decisions: [{ verdict: 'dunno', stage: 'connect', rule: 'connect', reason: 'ok' }] },
      { call: 'mail', input: `sender${n}@example.net`, tls: false, helo: 'client.example.net', facts: {}, decisions: [{ verdict: 'permit', stage: 'mail', rule: 'mail', reason: 'ok' }] },
      { call: 'rcpt', input: 'bob@example.test', facts: {}, decisions: [{ verdict: 'permit', stage: 'rcpt', rule: 'local-domains', reason: 'rcpt.local_domain' }] },
    ],
  };
}

async function readAll(dir: string): Promise<{ records: JournalRecord[]; stats: ReturnType<typeof emptyReadStats> }> {
  const records: JournalRecord[] = [];
  const stats = emptyReadStats();
  await readJournal(dir, {}, stats, (r) => {
    records.push(r);
  });
  return { records, stats };
}

test('records are framed lines, batched; a segment rotates past segment_bytes and the oldest go past max_bytes', async (t) => {
  const dir = await tempDir(t);
  let now = 1_700_000_000_000;
  const { logger } = capture();
  const writer = new JournalWriter({ dir, maxBytes: 6000, maxAge: 7 * 86_400_000, segmentBytes: 1500, flushInterval: 60_000, logger, now: () => now });
  t.after(() => writer.close());
  for (let i = 0; i < 40; i++) {
    writer.record(session(i, now));
    now += 10;
    if (i % 3 === 2) await writer.flush();
  }
  await writer.flush();
  const stats = writer.stats();
  assert.equal(stats.written, 40);
  assert.equal(stats.dropped, 0);
  const perRecord = stats.bytes / 40;
  assert.ok(perRecord > 100 && perRecord < 1000, `bytes per record ${perRecord}`);
  const segments = await listSegments(dir);
  assert.ok(segments.length >= 3, `segments: ${segments.length}`);
  const sizes = await Promise.all(segments.map(async (s) => (await readFile(s.file)).length));
  for (const size of sizes) assert.ok(size <= 1500, `segment of ${size} bytes`);
  // Pruned after each rotation: what stays is within max_bytes plus the segment being written.
  assert.ok(sizes.reduce((a, b) => a + b, 0) <= 6000 + 1500);
  const { records, stats: read } = await readAll(dir);
  assert.equal(read.corruptRecords, 0);
  assert.ok(records.length < 40 && records.length > 0, `${records.length} records left`);
  assert.equal(records.at(-1)?.id, 's39', 'the newest are kept');
  assert.deepEqual(records.at(-1)?.s.map((s) => s.c), ['connect', 'mail', 'rcpt']);
  const text = await readFile(segments.at(-1)!.file, 'utf8');
  assert.match(text.split('\n')[0]!, /^[0-9a-f]{8} \{"v":1,"id":"s\d+"/);
});

test('segments older than max_age are removed; a new segment starts every hour', async (t) => {
  const dir = await tempDir(t);
  let now = 1_700_000_000_000;
  const { logger } = capture();
  const writer = new JournalWriter({ dir, maxBytes: 10_000_000, maxAge: 3 * 3_600_000, segmentBytes: 1_000_000, flushInterval: 60_000, logger, now: () => now });
  t.after(() => writer.close());
  const hours: number[] = [];
  for (let h = 0; h < 6; h++) {
    hours.push(now);
    writer.record(session(h, now));
    await writer.flush();
    now += 3_600_000 + 1;
  }
  const names = (await listSegments(dir)).map((s) => s.name);
  // Six hourly segments written; at the last rotation (hour 5) those that ended before hour 2 are gone.
  assert.deepEqual(names, hours.slice(2).map((h) => segmentName(h)));
  const { records } = await readAll(dir);
  assert.deepEqual(records.map((r) => r.id), ['s2', 's3', 's4', 's5']);
});

test('a corrupt record and an unreadable segment are skipped with a count, the rest is read', async (t) => {
  const dir = await tempDir(t);
  const now = 1_700_000_000_000;
  const { logger } = capture();
  const writer = new JournalWriter({ dir, maxBytes: 10_000_000, maxAge: 7 * 86_400_000, segmentBytes: 1_000_000, flushInterval: 60_000, logger, now: () => now });
  for (let i = 0; i < 5; i++) writer.record(session(i, now + i));
  await writer.close();
  const [segment] = await listSegments(dir);
  const lines = (await readFile(segment!.file, 'utf8')).split('\n');
  lines[1] = lines[1]!.replace('sender1@', 'sender9@'); // a flipped byte: the CRC no longer matches
  await writeFile(segment!.file, lines.join('\n'));
  await appendFile(segment!.file, 'torn half-written lin');
  await mkdir(path.join(dir, segmentName(now + 10_000))); // a "segment" that cannot be read
  await writeFile(path.join(dir, segmentName(now + 20_000)), 'garbage\n\u0000\u0001\n');
  const { records, stats } = await readAll(dir);
  assert.deepEqual(records.map((r) => r.id), ['s0', 's2', 's3', 's4']);
  assert.deepEqual(stats, { segments: 2, records: 4, corruptRecords: 4, unreadableSegments: 1, corruptSegments: 2 });
});

test('a write error drops and counts records, logs one error line, and the journal resumes by itself', async (t) => {
  const dir = await tempDir(t);
  const now = 1_700_000_000_000;
  const { logger, lines } = capture();
  // The journal directory's place is taken by a file: every append fails (ENOTDIR / EEXIST).
  await writeFile(dir, 'not a directory');
  const writer = new JournalWriter({ dir, maxBytes: 10_000_000, maxAge: 7 * 86_400_000, segmentBytes: 1_000_000, flushInterval: 60_000, logger, now: () => now });
  t.after(() => writer.close());
  for (let round = 0; round < 3; round++) {
    writer.record(session(round, now));
    await writer.flush();
  }
  assert.equal(writer.stats().dropped, 3);
  assert.equal(writer.stats().degraded, true);
  assert.equal(lines.filter((l) => l.event === 'journal.write_failed').length, 1, 'one error line, not one per batch');
  await rm(dir);
  writer.record(session(10, now));
  await writer.flush();
  assert.equal(writer.stats().degraded, false);
  assert.equal(writer.stats().written, 1);
  const resumed = lines.filter((l) => l.event === 'journal.resumed');
  assert.equal(resumed.length, 1);
  assert.equal(resumed[0]?.dropped, 3);
  assert.deepEqual((await readAll(dir)).records.map((r) => r.id), ['s10']);
  assert.equal((await readdir(dir)).length, 1);
});

test('a session past MAX_SESSION_STEPS driver calls is journaled with its beginning, marked cut', async () => {
  const { encodeSession } = await import('../../src/journal/journal-record.ts');
  const { MAX_SESSION_STEPS } = await import('../../src/session/session-driver.ts');
  const long = session(1, 1_700_000_000_000);
  const rcpt = long.steps![2]!;
  while (long.steps!.length < MAX_SESSION_STEPS) long.steps!.push(rcpt);
  assert.equal(encodeSession(long, 1_700_000_000_500)?.cut, true);
  assert.equal(encodeSession(session(2, 1_700_000_000_000), 1_700_000_000_500)?.cut, undefined);
});

test('sizes are counted in bytes on disk, also for non-ASCII lines (stats().bytes equals the segments\' size)', async (t) => {
  const dir = await tempDir(t);
  const { logger } = capture();
  const writer = new JournalWriter({ dir, maxBytes: 10_000_000, maxAge: 7 * 86_400_000, segmentBytes: 1_000_000, flushInterval: 60_000, logger, now: () => 1_700_000_000_000 });
  t.after(() => writer.close());
  for (let i = 0; i < 5; i++) {
    const record = session(i, 1_700_000_000_000);
    // A UTF-8 sender (SMTPUTF8): 2-4 bytes per character on disk, 1-2 UTF-16 units in memory.
    const steps = (record.steps ?? []).map((s) => (s.call === 'mail' ? { ...s, input: `δοκιμή${i}@παράδειγμα.δοκιμή😀` } : s));
    writer.record({ ...record, steps });
  }
  await writer.flush();
  const sizes = await Promise.all((await listSegments(dir)).map(async (s) => (await readFile(s.file)).length));
  assert.equal(writer.stats().written, 5);
  assert.equal(writer.stats().bytes, sizes.reduce((a, b) => a + b, 0));
});
