// Lifecycle over real sockets: stop() waits for attempts in flight (bounded),
// large messages are streamed from disk, delay warnings are sent once. A
// SIGKILLed writer loses nothing: lifecycle.slow.ts (a child process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const smarthost = (address: string, extra = '') => `mode = "smarthost"\nretry_schedule = ["1h"]\n${extra}\n[delivery.smarthost]\nhosts = ["${address}"]`;
const logger = silentLogger();

test('stop() waits for an attempt in flight; with a short grace it cuts it and the message stays spooled', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.dataDelay(400);
  const spool = await openSpool({ dir, logger });
  t.after(() => spool.close());
  const config = testConfig(dir, smarthost(sink.address));
  const runner = startQueueRunner({ spool, config, logger });
  await spool.accept(envelope(), rfc822('inflight'));
  await waitFor(() => runner.stats().active === 1, 5000, 'attempt started');
  await runner.stop(10_000);
  assert.equal(sink.messages.length, 1, 'the attempt finished before stop() resolved');
  assert.equal(spool.stats().size, 0, 'and its outcome was recorded');

  sink.dataDelay(5_000);
  const second = startQueueRunner({ spool, config, logger });
  const id = await spool.accept(envelope(), rfc822('cut'));
  await waitFor(() => second.stats().active === 1, 5000, 'attempt started');
  await second.stop(50);
  assert.equal(spool.has(id), true, 'still spooled for the next start');
});

test('a large message is streamed from disk to the upstream byte for byte', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const line = `${'0123456789abcdef'.repeat(4)}\r\n`;
  const body = Buffer.concat([rfc822('large', ''), Buffer.from(line.repeat(50_000)), Buffer.from('.\r\n..\r\nend\r\n')]); // ~3.3 MB
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 65_536) chunks.push(body.subarray(i, i + 65_536));
  await spool.accept(envelope(), Readable.from(chunks));
  await sink.waitFor(1, 20_000);
  assert.equal(sink.messages[0]?.raw.length, body.length);
  assert.ok(sink.messages[0]?.raw.equals(body));
});

test('a delay warning is sent once after delay_warning, then the message keeps being retried', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('bob@dest.test', '451 4.4.0 try later');
  const spool = await openSpool({ dir, logger });
  const config = testConfig(dir, `mode = "smarthost"\nretry_schedule = ["100ms"]\ndelay_warning = "300ms"\n[delivery.smarthost]\nhosts = ["${sink.address}"]`);
  const runner = startQueueRunner({ spool, config, logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const id = await spool.accept(envelope(), rfc822('slow'));
  await sink.waitFor(1);
  const warning = sink.messages[0];
  assert.equal(warning?.from, '');
  assert.deepEqual(warning?.to, ['alice@sender.test']);
  const text = warning?.raw.toString() ?? '';
  assert.match(text, /Subject: Delayed Mail/);
  assert.match(text, /Action: delayed/);
  assert.match(text, /Status: 4\.4\.0/);
  assert.match(text, /Will-Retry-Until: /);
  const deferrals = runner.stats().deferred;
  await waitFor(() => runner.stats().deferred >= deferrals + 3, 5000, 'more retries');
  assert.equal(sink.messages.length, 1, 'one warning only');
  assert.equal((await spool.load(id))?.state.warned, true);
});
