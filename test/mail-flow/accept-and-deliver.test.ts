// End to end: a real SMTP client sends through the whole relay (startRelay)
// to a real upstream sink, byte for byte, and retries while the upstream is
// down. `relayguard serve` in a child process: SIGKILL after 250 in
// test/lifecycle/restart-after-sigkill.slow.ts, a broken config.toml at start
// in test/cli/bin.slow.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo, startHarness } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { POLICIES, raw, send } from '../helpers/mail-flow.ts';

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
  const attempts = () => harness.logs.filter((l) => l.msg === 'delivery attempt');
  // On a timeout, what the relay said about the message shows why (an attempt that never ended, an error line).
  const told = () => JSON.stringify(harness.logs.filter((l) => l.msg === 'delivery attempt' || (l.level as number) >= 40));
  await waitFor(() => attempts().length >= 2, 20_000, () => `two failed attempts; attempts and warnings so far: ${told()}`);
  assert.equal(harness.relay.spool.stats().size, 1, 'still spooled');
  await sink.up();
  await sink.waitFor(1, 10_000);
  await waitFor(() => harness.relay.spool.stats().size === 0, 5000, 'spool empty');
  assert.equal(sink.messages.length, 1);
});
