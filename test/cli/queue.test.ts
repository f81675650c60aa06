// `relayguard queue ...` against a spool on disk: directly when no server
// runs, and through control requests to a server running in another process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough, Writable } from 'node:stream';
import { runQueue } from '../../src/cli/queue.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { envelope, rfc822, tempDir } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function queue(args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk, _enc, cb) => (append(String(chunk)), cb()) });
  const io: CliIo = { stdin: new PassThrough(), stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: {} };
  const code = await runQueue(args, io);
  return { code, out, err };
}

async function writeConfig(dir: string, smarthost: string): Promise<string> {
  const file = path.join(dir, 'config.toml');
  await writeFile(
    file,
    [
      'hostname = "relay.test"',
      'data_dir = "./data"',
      '[[listeners]]',
      'address = "127.0.0.1:0"',
      'role = "mx"',
      '[delivery]',
      'mode = "smarthost"',
      'retry_schedule = ["1h"]',
      '[delivery.smarthost]',
      `hosts = ["${smarthost}"]`,
    ].join('\n'),
  );
  return file;
}

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
