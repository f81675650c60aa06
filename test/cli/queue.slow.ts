// `relayguard queue` requests reaching a server that runs in another process
// (a real child, through <spool>/control): the slow half of queue.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { queue, writeConfig } from '../helpers/queue-cli.ts';

test('queue retry/delete/bounce reach a server running in another process, which acts on them', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('bob@dest.test', '450 4.2.1 busy');
  const file = await writeConfig(dir, sink.address);
  const spoolDir = spoolDirOf({ dataDir: path.join(dir, 'data') });
  const seed = await openSpool({ dir: spoolDir, logger: silentLogger() });
  const retried = await seed.accept(envelope(), rfc822('retried'));
  const deleted = await seed.accept(envelope(), rfc822('deleted'));
  const bounced = await seed.accept(envelope({ recipients: ['carol@dest.test'] }), rfc822('bounced'));
  sink.rcptReply('carol@dest.test', '450 4.2.1 busy');
  await seed.close();

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/queue-server.ts', import.meta.url)), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await waitFor(() => stdout.includes('ready'), 20_000, 'server ready');
  // All three were tried once and deferred (the journal says so).
  await waitFor(() => existsSync(path.join(spoolDir, 'queue', `${retried}.state`)) && existsSync(path.join(spoolDir, 'queue', `${bounced}.state`)), 10_000, 'first attempts');

  sink.rcptReply('bob@dest.test', undefined);
  const retry = await queue(['retry', retried, '--config', file]);
  assert.equal(retry.code, 0, retry.err);
  await sink.waitFor(1);
  assert.match(sink.messages[0]?.raw.toString() ?? '', /Subject: retried/);

  const del = await queue(['delete', deleted, '--config', file]);
  assert.equal(del.code, 0, del.err);
  assert.equal(existsSync(path.join(spoolDir, 'queue', `${deleted}.msg`)), false);

  const bounce = await queue(['bounce', bounced, '--config', file]);
  assert.equal(bounce.code, 0, bounce.err);
  // The DSN goes to alice@sender.test through the same smarthost.
  await sink.waitFor(2);
  assert.equal(sink.messages[1]?.from, '');
  assert.match(sink.messages[1]?.raw.toString() ?? '', /Final-Recipient: rfc822; carol@dest\.test/);

  const missing = await queue(['delete', 'AAAAAAAAAAAAAAAAA', '--config', file]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no message/);

  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(child.exitCode, 0);
  assert.equal(sink.messages.filter((m) => /Subject: deleted/.test(m.raw.toString())).length, 0);
});

test('`queue list | head`: a reader that goes away early ends the command quietly, exit 0, no stack trace', async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, '127.0.0.1:9');
  const spool = await openSpool({ dir: spoolDirOf({ dataDir: path.join(dir, 'data') }), logger: silentLogger() });
  for (let i = 0; i < 3; i++) await spool.accept(envelope(), rfc822(`piped${i}`));
  await spool.close();
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'relayguard.js');
  for (const args of [['queue', 'list', '--config', file], ['queue', '--help']]) {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader is gone before the first byte: every write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(stderr, '', args.join(' '));
    assert.equal(code, 0, args.join(' '));
  }
});

test('queue hold / release reach a server in another process: held mail stays out of the upstream, survives a restart, release delivers it once', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('bob@dest.test', '450 4.2.1 busy');
  const file = await writeConfig(dir, sink.address);
  const spoolDir = spoolDirOf({ dataDir: path.join(dir, 'data') });
  const seed = await openSpool({ dir: spoolDir, logger: silentLogger() });
  const bot = await seed.accept(envelope({ authUser: 'mallory' }), rfc822('bot'));
  const human = await seed.accept(envelope({ authUser: 'carol' }), rfc822('human'));
  await seed.close();

  const start = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/queue-server.ts', import.meta.url)), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitFor(() => stdout.includes('ready'), 20_000, 'server ready');
    return child;
  };
  let child = await start();
  await waitFor(() => existsSync(path.join(spoolDir, 'queue', `${bot}.state`)) && existsSync(path.join(spoolDir, 'queue', `${human}.state`)), 10_000, 'first attempts');
  const held = await queue(['hold', '--user', 'mallory', '--reason', 'burst', '--config', file]);
  assert.equal(held.code, 0, held.err);
  assert.match(held.out, new RegExp(`1 message\\(s\\) of user mallory held: ${bot}`));
  assert.equal(existsSync(path.join(spoolDir, 'queue', `${bot}.held`)), true);

  // A SIGKILL, then a restart: still held; everything else is retried and delivered.
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  sink.rcptReply('bob@dest.test', undefined);
  child = await start();
  assert.equal((await queue(['retry', '--config', file])).code, 0);
  await sink.waitFor(1);
  assert.match(sink.messages[0]?.raw.toString() ?? '', /Subject: human/);
  const list = await queue(['list', '--held', '--config', file]);
  assert.match(list.out, new RegExp(`^${bot} .*HELD since .*: burst$`, 'm'));

  const released = await queue(['release', bot, '--config', file]);
  assert.equal(released.code, 0, released.err);
  await sink.waitFor(2);
  assert.match(sink.messages[1]?.raw.toString() ?? '', /Subject: bot/);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(sink.messages.length, 2, 'each message exactly once');
});
