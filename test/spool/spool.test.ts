import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openSpool } from '../../src/spool/spool.ts';
import { SpoolError } from '../../src/spool/errors.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';

const logger = silentLogger();

test('accept stores a small message durably in a segment before resolving; load reads it back', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  const body = rfc822('first');
  const env = envelope({ recipients: ['a@x.test', 'b@y.test'], authUser: 'alice', sessionId: 's1' });
  const id = await spool.accept(env, Readable.from([body.subarray(0, 10), body.subarray(10)]));
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  assert.deepEqual(await readdir(path.join(dir, 'queue')), []);
  assert.equal((await readdir(path.join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).length, 1);
  assert.equal(spool.stats().size, 1);
  const loaded = await spool.load(id);
  assert.ok(loaded);
  assert.deepEqual(loaded.envelope.recipients, ['a@x.test', 'b@y.test']);
  assert.equal(loaded.envelope.authUser, 'alice');
  assert.equal(loaded.envelope.id, id);
  assert.equal(loaded.size, body.length);
  assert.deepEqual(loaded.body, body);
  assert.equal(loaded.state.attempts, 0);
  assert.equal(loaded.state.recipients.get('a@x.test')?.status, 'pending');
});

test('a large message is streamed to disk and read back byte for byte', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger, cacheBytes: 0 });
  t.after(() => spool.close());
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
  const chunks = Array.from({ length: 80 }, () => chunk); // 5 MiB
  const id = await spool.accept(envelope(), Readable.from(chunks));
  const loaded = await spool.load(id);
  assert.ok(loaded);
  assert.equal(loaded.size, 80 * chunk.length);
  assert.equal(loaded.body, undefined, 'a large body is not held in memory');
  const file = await readFile(loaded.file);
  assert.deepEqual(file.subarray(loaded.bodyOffset), Buffer.concat(chunks));
});

test('a failing message stream or a refusing check() leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  const broken = new Readable({
    read() {
      this.push(Buffer.alloc(200 * 1024, 65));
      this.destroy(new Error('client went away'));
    },
  });
  await assert.rejects(spool.accept(envelope(), broken), (e: unknown) => e instanceof SpoolError && e.code === 'SPOOL_MESSAGE_STREAM');
  const tooBig = new Error('size exceeded');
  await assert.rejects(spool.accept(envelope(), Readable.from([rfc822('x')]), { check: () => { throw tooBig; } }), (e: unknown) => e === tooBig);
  // A large message (already streaming to tmp/) refused at its end.
  const large = Array.from({ length: 4 }, () => Buffer.alloc(64 * 1024, 66));
  await assert.rejects(spool.accept(envelope(), Readable.from(large), { check: () => { throw tooBig; } }), (e: unknown) => e === tooBig);
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  assert.deepEqual(await readdir(path.join(dir, 'queue')), []);
  assert.equal(spool.stats().size, 0);
});

test('the scan discards torn temp files and orphaned journals, and resumes every message', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const a = await first.accept(envelope({ receivedAt: 1_000 }), rfc822('a'));
  const b = await first.accept(envelope({ receivedAt: 2_000 }), rfc822('b'));
  // A crash in the middle of a write, and a journal whose message was already removed.
  await writeFile(path.join(dir, 'tmp', `${first.nextId()}.msg`), 'RGSPOOL1 {"id":');
  await writeFile(path.join(dir, 'queue', `${first.nextId()}.state`), '{"at":1}\n');
  // No close(): the process "died".
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  assert.deepEqual(await readdir(path.join(dir, 'queue')), [], 'the orphaned journal is gone');
  assert.deepEqual([...second.entries()].map(([id]) => id), [a, b], 'oldest first');
  assert.equal(second.stats().size, 2);
  assert.ok((await second.load(b))?.body?.equals(rfc822('b')));
});

test('journal events survive a restart; a torn last line is ignored; the due time comes back from the scan', async (t) => {
  const dir = await tempDir(t);
  const first = await openSpool({ dir, logger });
  const id = await first.accept(envelope({ recipients: ['a@x.test', 'b@x.test'] }), rfc822('j'));
  const next = Date.now() + 3_600_000;
  await first.record(id, {
    at: Date.now(),
    kind: 'attempt',
    attempts: 1,
    next,
    rcpt: { 'a@x.test': { s: 'delivered', x: '250 ok' }, 'b@x.test': { s: 'deferred', x: '450 busy', e: '4.2.0' } },
  });
  assert.equal(Math.round((await stat(path.join(dir, 'queue', `${id}.state`))).mtimeMs / 1000), Math.round(next / 1000));
  const restarted = await openSpool({ dir, logger });
  assert.equal(Math.round((restarted.dueOf(id) ?? 0) / 1000), Math.round(next / 1000));
  // A crash tore the next append.
  await appendFile(path.join(dir, 'queue', `${id}.state`), '{"at":5,"kind":"attempt","rcpt":{"b@x.test":{"s":"deliv');
  const second = await openSpool({ dir, logger });
  t.after(() => second.close());
  const loaded = await second.load(id);
  assert.ok(loaded);
  assert.equal(loaded.state.attempts, 1);
  assert.equal(loaded.state.nextAttemptAt, next);
  assert.equal(loaded.state.recipients.get('a@x.test')?.status, 'delivered');
  assert.equal(loaded.state.recipients.get('b@x.test')?.status, 'deferred');
  assert.equal(loaded.state.recipients.get('b@x.test')?.enhanced, '4.2.0');
  await second.remove(id);
  assert.deepEqual(await readdir(path.join(dir, 'queue')), []);
  assert.equal(second.stats().size, 0);
});

test('the spool refuses to open while another live process owns it', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  await spool.close();
  // The parent process (the test runner) is alive and is not us.
  await writeFile(path.join(dir, 'owner'), `${process.ppid}\n`);
  await assert.rejects(openSpool({ dir, logger }), (e: unknown) => e instanceof SpoolError && e.code === 'SPOOL_LOCKED');
  // A dead owner is taken over.
  await writeFile(path.join(dir, 'owner'), '999999999\n');
  const again = await openSpool({ dir, logger });
  await again.close();
});

test('concurrent accepts all land, with distinct ids in accept order', async (t) => {
  const dir = await tempDir(t);
  const spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => spool.accept(envelope(), rfc822(`m${i}`))));
  assert.equal(new Set(ids).size, 200);
  assert.deepEqual([...spool.entries()].map(([id]) => id), ids);
  assert.equal((await readdir(path.join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).length, 1, 'all in one segment');
  assert.equal(spool.stats().size, 200);
});
