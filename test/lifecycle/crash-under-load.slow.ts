// No accepted message is lost when the relay dies in the middle of a busy
// moment: many clients at once (so acknowledgements share group commits in
// a spool segment), SIGKILL while they are sending and while deliveries are
// in flight, restart on the same spool. Every message that got its 250 must
// reach the upstream; a message may arrive twice (its delivery finished but
// its done mark did not), never not at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, smarthostTo } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { makeTestConfig } from '../helpers/test-config.ts';
import { listenerPort, queuedOf, serve } from '../helpers/relay-process.ts';

const POLICIES = { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' };
const CLIENTS = 12;
const PER_CLIENT = 40;
/** The kill comes once this many are acknowledged and some are delivered, so deliveries are in flight too. */
const KILL_AFTER = 60;
const DELIVERED_BEFORE_KILL = 10;

function message(id: string): Buffer {
  return Buffer.from(`From: a@sender.test\r\nTo: b@example.test\r\nSubject: ${id}\r\nMessage-ID: <${id}@load.test>\r\n\r\nbody of ${id}\r\n${'y'.repeat(700)}\r\n`);
}

test('SIGKILL under load: every message that got a 250 arrives after the restart', async (t) => {
  const sink = await startSmtpSink({ starttls: false });
  const dir = await makeTestConfig(`log_level = "info"\n${HARNESS_LISTENERS}${smarthostTo(sink.port)}`, POLICIES);
  t.after(async () => {
    await sink.close();
    await dir.cleanup();
  });
  const first = serve(dir.configFile);
  const port = listenerPort(await first.started);
  const acked = new Set<string>();
  let killed = false;
  const client = async (c: number) => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.test' });
    try {
      for (let i = 0; i < PER_CLIENT && !killed; i++) {
        const id = `m${c}-${i}`;
        try {
          const info = await transport.sendMail({ envelope: { from: 'a@sender.test', to: ['b@example.test'] }, raw: message(id) });
          if (/^250 /.test(info.response)) acked.add(id);
        } catch {
          // Refused or cut by the kill: not acknowledged, so the client would try again later.
        }
        if (acked.size >= KILL_AFTER && sink.messages.length >= DELIVERED_BEFORE_KILL && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    } finally {
      transport.close();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  if (!killed) first.child.kill('SIGKILL');
  await first.exited;
  const beforeRestart = sink.messages.length;
  assert.ok(acked.size >= KILL_AFTER, `${acked.size} acknowledged before the kill`);

  const second = serve(dir.configFile);
  t.after(() => void second.child.kill('SIGKILL'));
  const running = await second.started;
  const arrivedIds = () => sink.messages.map((m) => /Message-ID: <([^@>]+)@load\.test>/.exec(m.raw.toString('latin1'))?.[1]);
  await waitFor(() => [...acked].every((id) => arrivedIds().includes(id)), 20_000, 'every acknowledged message at the sink');
  // A duplicate can only come from a message still in the spool: count once it is empty.
  await waitFor(async () => (await queuedOf(running)) === 0, 20_000, "the restarted relay's spool to empty");
  const counts = new Map<string, number>();
  for (const id of arrivedIds()) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  const missing = [...acked].filter((id) => !counts.has(id));
  const figures = `${acked.size} acknowledged, ${beforeRestart} delivered before the kill, ${sink.messages.length} arrivals of ${counts.size} messages in all`;
  assert.deepEqual(missing, [], `no acknowledged message lost (${figures})`);
  assert.ok([...counts.values()].every((n) => n <= 2), `a message arrives at most twice (${figures})`);
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
});
