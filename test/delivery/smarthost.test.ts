// Smarthost delivery over real sockets: spool -> queue runner -> smtp-server sink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const smarthost = (address: string, retry = '["1m"]', extra = '') =>
  `mode = "smarthost"\nretry_schedule = ${retry}\n${extra}\n[delivery.smarthost]\nhosts = ["${address}"]\ntls = "opportunistic"`;

test('a message reaches the smarthost byte for byte with all its recipients, then leaves the spool', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  // Dots at line starts, 8-bit text and a long line must all survive unchanged.
  const body = rfc822('bytes', `.leading dot\r\n..two dots\r\nUTF-8: \u00e9t\u00e9\r\n${'x'.repeat(900)}\r\n.\r\nend\r\n`);
  const recipients = ['one@dest.test', 'two@dest.test', 'three@other.test'];
  const id = await spool.accept(envelope({ recipients }), Readable.from([body]));
  await sink.waitFor(1);
  const got = sink.messages[0];
  assert.ok(got);
  assert.deepEqual(got.raw, body);
  assert.equal(got.from, 'alice@sender.test');
  assert.deepEqual(got.to, recipients);
  assert.equal(got.secure, true, 'STARTTLS with a self-signed certificate');
  await waitFor(() => spool.stats().size === 0, 5000, 'message removed');
  assert.deepEqual(await readdir(path.join(dir, 'queue')), []);
  const attempt = lines.filter((l) => l.msg === 'delivery attempt');
  assert.equal(attempt.length, 1);
  assert.equal(attempt[0]?.queueId, id);
  assert.equal(attempt[0]?.host, `${sink.host}[${sink.host}]:${sink.port}`);
  assert.equal((attempt[0]?.results as unknown[]).length, 3);
  assert.equal(typeof attempt[0]?.durationMs, 'number');
  assert.equal(runner.stats().delivered, 3);
});

test('upstream down: the message stays spooled, is retried on the schedule, and arrives once the upstream is back', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  await sink.down();
  const logger = silentLogger();
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address, '["150ms"]')), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const id = await spool.accept(envelope(), rfc822('down'));
  await waitFor(() => runner.stats().deferred >= 2, 5000, 'two deferred attempts');
  assert.equal(spool.stats().size, 1);
  const state = (await spool.load(id))?.state;
  assert.equal(state?.recipients.get('bob@dest.test')?.status, 'deferred');
  assert.match(state?.recipients.get('bob@dest.test')?.reply ?? '', /ECONNREFUSED|connect/i);
  await sink.up();
  await sink.waitFor(1);
  await waitFor(() => spool.stats().size === 0, 5000, 'message removed');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await runner.stop(1000);
  assert.equal(sink.messages.length, 1, 'delivered exactly once');
});

test('4xx for one recipient and 250 for another: only the deferred one is retried', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('busy@dest.test', '450 4.2.1 mailbox busy');
  const logger = silentLogger();
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address, '["200ms"]')), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const id = await spool.accept(envelope({ recipients: ['ok@dest.test', 'busy@dest.test'] }), rfc822('partial'));
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]?.to, ['ok@dest.test']);
  // The journal is written after the attempt is counted: poll the spool, not the counters.
  let state = (await spool.load(id))?.state;
  await waitFor(async () => ((state = (await spool.load(id))?.state)?.attempts ?? 0) >= 1, 5000, 'the first attempt in the journal');
  assert.equal(state?.recipients.get('ok@dest.test')?.status, 'delivered');
  assert.equal(state?.recipients.get('busy@dest.test')?.status, 'deferred');
  assert.equal(state?.recipients.get('busy@dest.test')?.enhanced, '4.2.1');
  sink.rcptReply('busy@dest.test', undefined);
  await sink.waitFor(2);
  assert.deepEqual(sink.messages[1]?.to, ['busy@dest.test']);
  await waitFor(() => spool.stats().size === 0, 5000, 'message removed');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await runner.stop(1000);
  assert.equal(sink.messages.length, 2);
});

test('a restart (new spool on the same directory) resumes pending messages exactly once, keeping recipient state', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const logger = silentLogger();
  // First life: accepted, never delivered (no runner), one message half delivered.
  const first = await openSpool({ dir, logger });
  const plain = await first.accept(envelope({ recipients: ['a@dest.test', 'b@dest.test'] }), rfc822('plain'));
  const half = await first.accept(envelope({ recipients: ['done@dest.test', 'left@dest.test'] }), rfc822('half'));
  await first.record(half, { at: Date.now(), kind: 'attempt', attempts: 1, next: Date.now(), rcpt: { 'done@dest.test': { s: 'delivered', x: '250 ok' }, 'left@dest.test': { s: 'deferred', x: '451 later' } } });
  // "SIGKILL": the first spool is simply abandoned.
  const second = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool: second, config: testConfig(dir, smarthost(sink.address)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await second.close();
  });
  await sink.waitFor(2);
  await waitFor(() => second.stats().size === 0, 5000, 'spool empty');
  // stop() waits for attempts in flight: after it no delivery can start or finish.
  await runner.stop(1000);
  assert.equal(sink.messages.length, 2);
  const byRecipients = sink.messages.map((m) => m.to.join(',')).sort();
  assert.deepEqual(byRecipients, ['a@dest.test,b@dest.test', 'left@dest.test']);
  assert.ok(plain && half);
});

test('5xx from the smarthost: the recipient fails, the sender gets a DSN, the message leaves the spool', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('nobody@dest.test', '550 5.1.1 no such user');
  const logger = silentLogger();
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await spool.accept(envelope({ recipients: ['nobody@dest.test', 'real@dest.test'] }), rfc822('fivexx'));
  // The original to real@, then the DSN to alice@ from <>.
  await sink.waitFor(2);
  const dsn = sink.messages.find((m) => m.from === '');
  assert.ok(dsn);
  assert.deepEqual(dsn.to, ['alice@sender.test']);
  assert.match(dsn.raw.toString(), /Final-Recipient: rfc822; nobody@dest\.test/);
  assert.match(dsn.raw.toString(), /Status: 5\.1\.1/);
  await waitFor(() => spool.stats().size === 0, 5000, 'spool empty');
});
