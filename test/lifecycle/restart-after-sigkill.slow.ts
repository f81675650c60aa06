// `relayguard serve` in a child process, SIGKILLed right after it answered
// 250: after a restart on the same spool the message arrives exactly once.
// (Many clients at once: crash-under-load.slow.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { listenerPort, queuedOf, serve } from '../helpers/relay-process.ts';
import { POLICIES, raw, send } from '../helpers/mail-flow.ts';

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
