// Held messages on a running queue runner (issue 19 item 1), over real
// sockets to an smtp-server upstream: a held message is never attempted
// (accept-time hold or `queue hold`), `queue retry` does not move it, a
// release delivers it exactly once, and an expired hold is bounced to our
// own user or deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { handleControl } from '../../src/delivery/queue-control.ts';
import { expiryAction, matchesSelector } from '../../src/delivery/runner-holds.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const logger = silentLogger();
const smarthost = (address: string, extra = '') => `mode = "smarthost"\nretry_schedule = ["1h"]\n${extra}\n[delivery.smarthost]\nhosts = ["${address}"]`;
const subjects = (sink: { messages: ReadonlyArray<{ raw: Buffer }> }) => sink.messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1]);

test('held at accept time: never attempted while a normal message goes out; released, it is delivered once', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger, control: false });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const now = Date.now();
  const held = await spool.accept(envelope({ authUser: 'bot' }), rfc822('held'), { hold: { at: now, until: now + 3_600_000, reason: 'volume', by: 'anomaly.volume' } });
  await spool.accept(envelope(), rfc822('normal'));
  await sink.waitFor(1);
  await waitFor(() => spool.stats().size === 1, 5000, 'the normal message removed after delivery');
  assert.deepEqual(subjects(sink), ['normal']);
  assert.equal(runner.stats().held, 1);
  assert.equal(await runner.retry(), 0, 'retry of everything leaves the held message alone');
  const retried = await handleControl(runner, { op: 'retry', id: held });
  assert.equal(retried.ok, false);
  assert.match(retried.message, /held; relayguard queue release/);
  // Give the runner a pass over its schedule: still nothing for the held one.
  runner.kick();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sink.messages.length, 1);
  assert.equal(spool.has(held), true);

  const released = await handleControl(runner, { op: 'release', selector: { id: held } });
  assert.deepEqual(released, { ok: true, message: `${held}: released` });
  await sink.waitFor(2);
  await waitFor(() => !spool.has(held), 5000, 'released message delivered and removed');
  assert.deepEqual(subjects(sink), ['normal', 'held']);
  assert.equal(runner.stats().held, 0);
  assert.deepEqual(await handleControl(runner, { op: 'release', selector: { id: held } }), { ok: false, message: `no message ${held} in the queue` });
});

test('queue hold --user on deferred mail: held across retries; release delivers exactly the held messages once', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  sink.rcptReply('bob@dest.test', '451 4.3.0 later');
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address)), logger, control: false });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const bot1 = await spool.accept(envelope({ authUser: 'Mallory' }), rfc822('bot1'));
  const bot2 = await spool.accept(envelope({ authUser: 'mallory', sender: 'x@sender.test' }), rfc822('bot2'));
  const other = await spool.accept(envelope({ authUser: 'carol', sender: 'carol@sender.test' }), rfc822('other'));
  await waitFor(() => runner.stats().deferred >= 3 && runner.stats().loaded === 0, 5000, 'first attempts deferred and recorded');

  const reply = await handleControl(runner, { op: 'hold', selector: { user: 'MALLORY' }, reason: 'stolen password' });
  assert.equal(reply.ok, true);
  assert.match(reply.message, /^2 message\(s\) of user MALLORY held/);
  assert.deepEqual(spool.heldIds().sort(), [bot1, bot2].sort());
  assert.equal((await spool.load(bot1))?.state.held?.reason, 'stolen password');
  assert.deepEqual(await handleControl(runner, { op: 'hold', selector: { id: bot1 } }), { ok: false, message: `${bot1}: already held` });

  sink.rcptReply('bob@dest.test', undefined);
  assert.equal(await runner.retry(), 1, 'only the message that is not held');
  await waitFor(() => !spool.has(other), 5000, 'the other user delivered');
  assert.deepEqual(subjects(sink), ['other']);

  const released = await handleControl(runner, { op: 'release', selector: { sender: '<alice@sender.test>' } });
  assert.equal(released.message, `1 message(s) of sender <alice@sender.test> released: ${bot1}`);
  await waitFor(() => !spool.has(bot1), 5000, 'bot1 delivered');
  assert.equal(spool.has(bot2), true, 'bot2 still held');
  assert.deepEqual(subjects(sink), ['other', 'bot1']);
  await handleControl(runner, { op: 'release', selector: { user: 'mallory' } });
  await waitFor(() => !spool.has(bot2), 5000, 'bot2 delivered');
  assert.deepEqual(subjects(sink), ['other', 'bot1', 'bot2'], 'each exactly once');
});

test('an expired hold is bounced to our own user, deleted otherwise or with hold_expiry = "delete"', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const spool = await openSpool({ dir, logger });
  const config = testConfig(dir, smarthost(sink.address, 'hold_lifetime = "300ms"'));
  const runner = startQueueRunner({ spool, config, logger, control: false });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  sink.rcptReply('bob@dest.test', '451 4.3.0 later');
  const own = await spool.accept(envelope({ authUser: 'alice' }), rfc822('own'));
  const stranger = await spool.accept(envelope({ sender: 'someone@else.test' }), rfc822('stranger'));
  await waitFor(() => runner.stats().deferred >= 2 && runner.stats().loaded === 0, 5000, 'deferred and recorded');
  assert.deepEqual(await runner.hold({ id: own }, 'suspect'), [own]);
  assert.deepEqual(await runner.hold({ id: stranger }, 'suspect'), [stranger]);
  await waitFor(() => !spool.has(own) && !spool.has(stranger), 10_000, 'both holds expired');
  await sink.waitFor(1);
  const bounce = sink.messages[0];
  assert.equal(bounce?.from, '');
  assert.deepEqual(bounce?.to, ['alice@sender.test']);
  assert.match(bounce?.raw.toString() ?? '', /held \(suspect\) and not released before/);
  assert.match(bounce?.raw.toString() ?? '', /Status: 5\.7\.1/);
  assert.equal(sink.messages.length, 1, 'no bounce to a stranger (backscatter)');

  assert.equal(expiryAction({ ...envelope({ authUser: 'alice' }), id: 'x' }, 'delete', true), 'delete');
  assert.equal(expiryAction({ ...envelope({ sender: '' }), id: 'x' }, 'bounce', true), 'delete');
  assert.equal(expiryAction({ ...envelope(), id: 'x' }, 'bounce', false), 'delete');
  assert.equal(expiryAction({ ...envelope(), id: 'x' }, 'bounce', true), 'bounce');
});

test('matchesSelector: ids, users and senders case-insensitively, <> for the null sender', () => {
  const env = { ...envelope({ authUser: 'Alice', sender: 'Alice@Sender.test' }), id: 'A1' };
  assert.equal(matchesSelector(env, { id: 'A1' }), true);
  assert.equal(matchesSelector(env, { user: 'alice' }), true);
  assert.equal(matchesSelector(env, { user: 'bob' }), false);
  assert.equal(matchesSelector(env, { sender: 'alice@sender.TEST' }), true);
  assert.equal(matchesSelector(env, { sender: '<alice@sender.test>' }), true);
  assert.equal(matchesSelector({ ...env, sender: '' }, { sender: '<>' }), true);
  assert.equal(matchesSelector(env, { sender: '<>' }), false);
  assert.equal(matchesSelector({ ...envelope(), id: 'A2' }, { user: 'alice' }), false, 'no user: never matches a user');
});
