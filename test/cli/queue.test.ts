// `relayguard queue ...` against a spool on disk when no server runs. Through
// control requests to a server running in another process: queue.slow.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';
import { queue, writeConfig } from '../helpers/queue-cli.ts';

test('queue list/show/retry/delete/bounce on the files when no server runs; usage and unknown ids', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, '127.0.0.1:9');
  const spoolDir = spoolDirOf({ dataDir: path.join(dir, 'data') });
  const spool = await openSpool({ dir: spoolDir, logger: silentLogger() });
  const a = await spool.accept(envelope({ recipients: ['x@dest.test', 'y@dest.test'], authUser: 'alice' }), rfc822('listed'));
  const b = await spool.accept(envelope(), rfc822('doomed'));
  const c = await spool.accept(envelope(), rfc822('bounced'));
  await spool.record(a, { at: Date.now(), kind: 'attempt', attempts: 1, next: Date.now() + 3_600_000, rcpt: { 'x@dest.test': { s: 'deferred', x: '451 4.3.0 later' } } });
  await spool.close();

  const listed = await queue(['list', '--config', file]);
  assert.equal(listed.code, 0);
  for (const id of [a, b, c]) assert.match(listed.out, new RegExp(`^${id} `, 'm'));
  assert.match(listed.out, /x@dest\.test {2}deferred {2}\(451 4\.3\.0 later\)/);
  assert.match(listed.out, /-- 3 message\(s\)/);
  const json = await queue(['list', '--json', `--config=${file}`]);
  assert.equal(json.out.trim().split('\n').length, 3);
  assert.equal((JSON.parse(json.out.split('\n')[0] as string) as { id: string }).id, a);

  const shown = await queue(['show', a, '--config', file]);
  assert.equal(shown.code, 0);
  assert.match(shown.out, /sender: +<alice@sender\.test>/);
  assert.match(shown.out, /user alice/);
  assert.match(shown.out, /Subject: listed/);
  assert.match(shown.out, /attempt/);

  assert.equal((await queue(['retry', a, '--config', file])).code, 0);
  const deleted = await queue(['delete', b, '--config', file]);
  assert.equal(deleted.code, 0);
  assert.match(deleted.out, /deleted/);
  const bounced = await queue(['bounce', c, '--config', file]);
  assert.equal(bounced.code, 0);
  const after = await queue(['list', '--json', '--config', file]);
  const rows = after.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; sender: string; recipients: Array<{ address: string }> });
  assert.deepEqual(rows.map((r) => r.id).filter((id) => id === b || id === c), []);
  const dsn = rows.find((r) => r.sender === '');
  assert.deepEqual(dsn?.recipients.map((r) => r.address), ['alice@sender.test']);

  assert.equal((await queue(['show', 'AAAAAAAAAAAAAAAAA', '--config', file])).code, 1);
  assert.equal((await queue(['delete', '../etc', '--config', file])).code, 1);
  assert.equal((await queue(['delete', '--config', file])).code, 2);
  assert.equal((await queue(['frobnicate', '--config', file])).code, 2);
  assert.equal((await queue(['list', '--config', path.join(dir, 'missing.toml')])).code, 1);
});

test('queue show prints header lines without CR, folded lines kept, control characters made visible', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, '127.0.0.1:9');
  const spool = await openSpool({ dir: spoolDirOf({ dataDir: path.join(dir, 'data') }), logger: silentLogger() });
  const id = await spool.accept(envelope(), rfc822('shown', 'Body.\r\n', 'X-Folded: one\r\n\ttwo\r\nX-Trick: \u001b[2Jcleared\rover\r\n'));
  await spool.close();
  const shown = await queue(['show', id, '--config', file]);
  assert.equal(shown.code, 0, shown.err);
  assert.ok(!shown.out.includes('\r'), JSON.stringify(shown.out));
  assert.ok(!shown.out.includes('\u001b'), 'no escape sequence reaches the terminal');
  const headers = shown.out.slice(shown.out.indexOf('headers:\n') + 'headers:\n'.length).split('\n');
  assert.deepEqual(headers, [
    '  From: Alice <alice@sender.test>',
    '  To: Bob <bob@dest.test>',
    '  Subject: shown',
    '  Message-ID: <shown@sender.test>',
    '  X-Folded: one',
    '  \ttwo',
    '  X-Trick: \\x1b[2Jcleared\\x0dover',
    '',
  ]);
});

test('queue hold / release / list --held on the files when no server runs; usage errors', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, '127.0.0.1:9');
  const spoolDir = spoolDirOf({ dataDir: path.join(dir, 'data') });
  let spool = await openSpool({ dir: spoolDir, logger: silentLogger() });
  const a = await spool.accept(envelope({ authUser: 'mallory' }), rfc822('a'));
  const b = await spool.accept(envelope({ authUser: 'mallory' }), rfc822('b'));
  const c = await spool.accept(envelope({ sender: '' }), rfc822('c'));
  await spool.close();

  const held = await queue(['hold', '--user', 'mallory', '--reason', 'stolen password', '--config', file]);
  assert.equal(held.code, 0, held.err);
  assert.match(held.out, /2 message\(s\) of user mallory held/);
  const nullHeld = await queue(['hold', '--sender=<>', '--config', file]);
  assert.match(nullHeld.out, new RegExp(`1 message\\(s\\) of sender <> held: ${c}`));
  const list = await queue(['list', '--held', '--config', file]);
  assert.equal(list.code, 0);
  assert.match(list.out, new RegExp(`^${a} .*HELD since .* by admin, expires .*: stolen password$`, 'm'));
  assert.match(list.out, /-- 3 held message\(s\)/);
  const json = (await queue(['list', '--held', '--json', '--config', file])).out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; held?: { reason: string } });
  assert.deepEqual(json.map((r) => r.held?.reason), ['stolen password', 'stolen password', 'held by the administrator']);
  assert.match((await queue(['show', a, '--config', file])).out, /^held: +since .*stolen password$/m);

  assert.equal((await queue(['release', b, '--config', file])).out, `${b}: released\n`);
  const again = await queue(['release', b, '--config', file]);
  assert.equal(again.code, 1);
  assert.match(again.err, /not held/);
  const retried = await queue(['retry', a, '--config', file]);
  assert.equal(retried.code, 1);
  assert.match(retried.err, /held; relayguard queue release/);
  spool = await openSpool({ dir: spoolDir, logger: silentLogger(), exclusive: false });
  assert.equal((await spool.load(a))?.state.held?.reason, 'stolen password');
  assert.equal((await spool.load(b))?.state.held, undefined);
  await spool.close();
  assert.match((await queue(['list', '--held', '--config', file])).out, /-- 2 held message\(s\)/);

  for (const argv of [['hold'], ['hold', a, '--user', 'x'], ['release', '--reason', 'x', a], ['list', '--user', 'x'], ['show', a, '--held'], ['hold', '--user']]) {
    assert.equal((await queue([...argv, '--config', file])).code, 2, argv.join(' '));
  }
});
