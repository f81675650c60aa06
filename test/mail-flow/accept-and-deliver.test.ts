// Issue 2 end to end: a real SMTP client sends through the whole relay
// (startRelay, or `relayguard serve` in a child process) to a real upstream
// sink. Durability (SIGKILL after 250), retries while the upstream is down,
// and config errors at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { listenerPort, queuedOf, serve } from '../helpers/relay-process.ts';

const POLICIES = { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' };

function raw(subject: string): Buffer {
  // 8-bit bytes, a dot-leading line and a long-ish body: what must arrive unchanged.
  return Buffer.concat([
    Buffer.from(`From: alice@example.test\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.test>\r\n\r\n`),
    Buffer.from('.a line starting with a dot\r\n\u00e9t\u00e9 latin-1 bytes: \xe9\xe0\r\n', 'latin1'),
    Buffer.from(`${'x'.repeat(900)}\r\n`.repeat(20)),
  ]);
}

async function send(port: number, envelope: { from: string; to: string[] }, message: Buffer) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.test' });
  try {
    return await transport.sendMail({ envelope, raw: message });
  } finally {
    transport.close();
  }
}

test('a message goes through byte for byte, with a Received header and its envelope', async (t) => {
  const sink = await startSmtpSink();
  const harness = await startHarness({ config: HARNESS_LISTENERS + smarthostTo(sink.port), policies: POLICIES });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  const message = raw('byte-for-byte');
  const info = await send(harness.port('mx'), { from: 'alice@sender.test', to: ['bob@example.test', 'carol@example.test', 'dave@example.test'] }, message);
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as \S+$/);
  const queueId = /queued as (\S+)/.exec(info.response)?.[1] as string;
  await sink.waitFor(1);
  const arrived = sink.messages[0];
  assert.ok(arrived);
  assert.equal(arrived.from, 'alice@sender.test');
  assert.deepEqual([...arrived.to].sort(), ['bob@example.test', 'carol@example.test', 'dave@example.test']);
  const text = arrived.raw.toString('latin1');
  const received = /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(relayguard\) with ESMTP id (\S+);\r\n\t[^\r\n]+\r\n/.exec(text);
  assert.ok(received, `starts with our Received header: ${text.slice(0, 200)}`);
  assert.equal(received[1], queueId, 'the Received header names the queue id');
  assert.ok(arrived.raw.subarray(received[0].length).equals(message), 'the rest is the message exactly');
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'delivered messages leave the spool');
  assert.ok(harness.logs.some((l) => l.msg === 'delivery attempt' && l.queueId === queueId));
});

test('upstream down: the message waits in the spool, is retried, and arrives once it is back', async (t) => {
  const sink = await startSmtpSink();
  await sink.down();
  const harness = await startHarness({ config: HARNESS_LISTENERS + smarthostTo(sink.port), policies: POLICIES });
  t.after(async () => {
    await harness.stop();
    await sink.close();
  });
  await send(harness.port('mx'), { from: 'alice@sender.test', to: ['bob@example.test'] }, raw('retry'));
  await waitFor(() => harness.logs.filter((l) => l.msg === 'delivery attempt').length >= 2, 5000, 'two failed attempts');
  assert.equal(harness.relay.spool.stats().size, 1, 'still spooled');
  await sink.up();
  await sink.waitFor(1, 10_000);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'spool empty');
  assert.equal(sink.messages.length, 1);
});

test('SIGKILL right after 250: after a restart the message arrives, exactly once', async (t) => {
  const sink = await startSmtpSink();
  await sink.down();
  // log_level info: the test reads the bound ports from the relay.started line.
  const dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}${smarthostTo(sink.port)}`, POLICIES);
  t.after(async () => {
    await sink.close();
    await dir.cleanup();
  });
  const first = serve(dir.configFile);
  const info = await send(listenerPort(await first.started), { from: 'alice@sender.test', to: ['bob@example.test', 'carol@example.test'] }, raw('durable'));
  assert.match(info.response, /^250 /);
  first.child.kill('SIGKILL');
  await first.exited;
  await sink.up();
  const second = serve(dir.configFile);
  t.after(() => void second.child.kill('SIGKILL'));
  const running = await second.started;
  await sink.waitFor(1, 10_000);
  // A duplicate can only come from a message still in the spool: count once it is empty.
  await waitFor(async () => (await queuedOf(running)) === 0, 10_000, "the restarted relay's spool to empty");
  assert.equal(sink.messages.length, 1);
  assert.deepEqual([...(sink.messages[0]?.to ?? [])].sort(), ['bob@example.test', 'carol@example.test']);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, 'SIGTERM drains and exits 0');
});

test('a broken config.toml: file:line and exit 1, nothing started', async (t) => {
  const dir = await makeTestConfig(HARNESS_LISTENERS);
  t.after(() => dir.cleanup());
  const { writeFile } = await import('node:fs/promises');
  await writeFile(dir.configFile, 'hostname = "relay.test"\n[[listeners]]\naddress = "127.0.0.1:0"\nrole = "relay"\n');
  const run = serve(dir.configFile);
  run.started.catch(() => undefined);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /config\.toml:4: listeners\.role: Invalid option/);
});
