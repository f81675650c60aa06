// Corrupt spool entries (issue 19 item 5), with real damaged files over a
// restart: a truncated header, a garbage message file, a garbage journal, a
// damaged segment record and a record whose CRC is right but whose header is
// not. Each is moved or copied into the quarantine with a reason, counted,
// listed, never delivered, never deleted, and not quarantined twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openSpool } from '../../src/spool/spool.ts';
import { encodeRecordPrefix } from '../../src/spool/segment-record.ts';
import { foldJournalChecked } from '../../src/spool/state-journal.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';
import { queue, writeConfig } from '../helpers/queue-cli.ts';
import { spoolDirOf, quarantineDirOf } from '../../src/spool/spool.ts';

const logger = silentLogger();
const GARBAGE = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256));
const moveOut = { kind: 'attempt' as const, attempts: 1, rcpt: {} };

test('queue files: truncated header, garbage message, garbage journal -> quarantined at load with a reason, once, over restarts', async (t) => {
  const dir = await tempDir(t);
  const qdir = path.join(dir, 'q');
  let spool = await openSpool({ dir, logger, quarantineDir: qdir });
  const ids: string[] = [];
  for (const name of ['truncated', 'garbage', 'badjournal', 'fine']) {
    const id = await spool.accept(envelope(), rfc822(name));
    await spool.record(id, { at: Date.now(), ...moveOut, next: Date.now() });
    ids.push(id);
  }
  const [truncated, garbage, badJournal, fine] = ids as [string, string, string, string];
  await spool.close();
  const queueDir = path.join(dir, 'queue');
  await truncate(path.join(queueDir, `${truncated}.msg`), 5);
  await writeFile(path.join(queueDir, `${garbage}.msg`), GARBAGE);
  await writeFile(path.join(queueDir, `${badJournal}.state`), Buffer.from('\u0000\u0001garbage\n{"at":1,"kind":"attempt"}\n'));

  spool = await openSpool({ dir, logger, quarantineDir: qdir });
  // Read-only (the CLI while a server runs): the damage shows as an error, nothing is moved.
  const viewer = await openSpool({ dir, logger, quarantineDir: qdir, exclusive: false });
  await assert.rejects(viewer.load(truncated), /header/);
  await assert.rejects(viewer.load(badJournal), /lines that are not events \(line 1\)/);
  await viewer.close();

  for (const id of [truncated, garbage, badJournal]) {
    assert.equal(await spool.load(id), undefined, id);
    assert.equal(spool.has(id), false, `${id} left the queue`);
  }
  assert.ok(await spool.load(fine), 'an intact message is untouched');
  assert.equal(spool.stats().quarantined, 3);
  const entries = await spool.quarantined();
  assert.deepEqual(entries.map((e) => e.name).sort(), [truncated, garbage, badJournal].sort());
  const byName = new Map(entries.map((e) => [e.name, e]));
  assert.match(byName.get(truncated)?.reason ?? '', /incomplete header/);
  assert.match(byName.get(garbage)?.reason ?? '', /corrupt header/);
  assert.match(byName.get(badJournal)?.reason ?? '', /journal .* lines that are not events/);
  assert.deepEqual(byName.get(badJournal)?.files, [`${badJournal}.msg`, `${badJournal}.reason`, `${badJournal}.state`].filter((f) => !f.endsWith('.reason')));
  assert.deepEqual((await readFile(path.join(qdir, `${garbage}.msg`))).toJSON().data, GARBAGE.toJSON().data, 'kept byte for byte');
  const left = await readdir(queueDir);
  assert.deepEqual(left.filter((n) => !n.startsWith(fine)), [], 'nothing of the damaged ones is left in queue/');
  await spool.close();

  spool = await openSpool({ dir, logger, quarantineDir: qdir });
  t.after(() => spool.close());
  assert.equal(spool.stats().quarantined, 3, 'counted again after a restart, not grown');
  assert.equal(spool.has(truncated), false);
});

test('segments: a damaged record and a record with a bad header are copied to the quarantine once; their neighbours are delivered', async (t) => {
  const dir = await tempDir(t);
  const qdir = path.join(dir, 'q');
  let spool = await openSpool({ dir, logger, quarantineDir: qdir });
  const a = await spool.accept(envelope(), rfc822('first'));
  const b = await spool.accept(envelope(), rfc822('damaged'));
  const c = await spool.accept(envelope(), rfc822('third'));
  await spool.close();
  const segDir = path.join(dir, 'segments');
  const [segName] = (await readdir(segDir)).filter((n) => n.endsWith('.seg'));
  assert.ok(segName);
  const segFile = path.join(segDir, segName);
  const bytes = await readFile(segFile);
  // Flip one byte inside b's payload: its CRC no longer matches.
  const at = bytes.indexOf('Subject: damaged');
  bytes[at + 9] = 0x58;
  await writeFile(segFile, bytes);
  // A record whose CRC is right but whose payload is no spool header.
  const junk = Buffer.from('not a spool header\nbody\n');
  await appendFile(segFile, Buffer.concat([encodeRecordPrefix([junk]), junk]));

  spool = await openSpool({ dir, logger, quarantineDir: qdir });
  assert.equal(spool.has(a) && spool.has(c), true, 'the neighbours are live');
  assert.equal(spool.has(b), false);
  const entries = await spool.quarantined();
  assert.equal(entries.length, 2, JSON.stringify(entries));
  assert.ok(entries.every((e) => e.name.startsWith(`${segName}@`)));
  assert.ok(entries.some((e) => /inside a segment .* damaged on disk/.test(e.reason)));
  assert.ok(entries.some((e) => /CRC is right but whose envelope header does not parse/.test(e.reason)));
  const damaged = entries.find((e) => /inside a segment/.test(e.reason));
  assert.match((await readFile(path.join(qdir, damaged?.name ?? ''))).toString('latin1'), /Subject: Xamaged/, 'the damaged bytes are kept');
  await spool.close();
  spool = await openSpool({ dir, logger, quarantineDir: qdir });
  t.after(() => spool.close());
  assert.equal((await spool.quarantined()).length, 2, 'the same damage is not copied again at the next start');
});

test('a zero-filled segment tail holds nothing: only logged, not quarantined', async (t) => {
  const dir = await tempDir(t);
  const qdir = path.join(dir, 'q');
  let spool = await openSpool({ dir, logger, quarantineDir: qdir });
  const a = await spool.accept(envelope(), rfc822('kept'));
  await spool.close();
  const segDir = path.join(dir, 'segments');
  const [segName] = (await readdir(segDir)).filter((n) => n.endsWith('.seg'));
  await appendFile(path.join(segDir, segName ?? ''), Buffer.alloc(4096));
  spool = await openSpool({ dir, logger, quarantineDir: qdir });
  t.after(() => spool.close());
  assert.equal(spool.has(a), true);
  assert.equal(spool.stats().quarantined, 0);
});

test('foldJournalChecked: a torn line continued by a later append is a crash trace, not damage', () => {
  const env = { ...envelope({ recipients: ['x@dest.test'] }), id: 'A1' };
  const torn = '{"at":1,"kind":"att' + '{"at":2,"kind":"attempt","attempts":1,"rcpt":{"x@dest.test":{"s":"delivered"}}}\n';
  const folded = foldJournalChecked(env, torn);
  assert.deepEqual(folded.badLines, []);
  assert.equal(folded.state.recipients.get('x@dest.test')?.status, 'delivered');
  assert.deepEqual(foldJournalChecked(env, 'garbage\n{"at":3,"kind":"retry"}\n').badLines, [1]);
  assert.deepEqual(foldJournalChecked(env, '{"at":3,"kind":"retry"}\n{"at":4,"ki').badLines, [], 'a torn last line is not damage');
});

test('relayguard queue list --quarantined and UNREADABLE rows in queue list', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, '127.0.0.1:9');
  const config = { dataDir: path.join(dir, 'data') };
  let spool = await openSpool({ dir: spoolDirOf(config), quarantineDir: quarantineDirOf(config), logger });
  const id = await spool.accept(envelope(), rfc822('doomed'));
  await spool.record(id, { at: Date.now(), ...moveOut, next: Date.now() });
  await spool.close();
  await writeFile(path.join(spoolDirOf(config), 'queue', `${id}.msg`), 'garbage where a spool header should be\n');
  assert.match((await queue(['list', '--quarantined', '--config', file])).out, /The quarantine is empty/);
  const listed = await queue(['list', '--config', file]);
  assert.match(listed.out, new RegExp(`^${id} {2}UNREADABLE: message ${id} has a corrupt header$`, 'm'));
  spool = await openSpool({ dir: spoolDirOf(config), quarantineDir: quarantineDirOf(config), logger });
  assert.equal(await spool.load(id), undefined);
  await spool.close();
  const out = (await queue(['list', '--quarantined', '--config', file])).out;
  assert.match(out, new RegExp(`^${id} .* message ${id} has a corrupt header$`, 'm'));
  assert.match(out, /-- 1 quarantined entry in .*quarantine/);
  const json = JSON.parse((await queue(['list', '--quarantined', '--json', '--config', file])).out) as { name: string; files: string[] };
  assert.deepEqual(json.files, [`${id}.msg`, `${id}.state`]);
  assert.equal((await queue(['show', id, '--quarantined', '--config', file])).code, 2);
});
