// Routes and smarthosts over real sockets: failover between hosts, AUTH over
// TLS, required TLS, remembered TLS failures, per-destination rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor, watchFor } from '../helpers/wait-for.ts';

test('a route fails over to its next host and authenticates over TLS; the password never reaches a log line', async (t) => {
  const dir = await tempDir(t);
  const down = await startSmtpSink();
  await down.down();
  const upstream = await startSmtpSink({ auth: { user: 'relay', pass: 's3cret-pass' } });
  const other = await startSmtpSink();
  t.after(() => Promise.all([down.close(), upstream.close(), other.close()]));
  const { logger, lines } = captureLogger('debug');
  const spool = await openSpool({ dir, logger });
  const config = testConfig(
    dir,
    [
      'mode = "smarthost"',
      '[delivery.smarthost]',
      `hosts = ["${other.address}"]`,
      '[[delivery.routes]]',
      'domains = ["routed.test", ".sub.test"]',
      `hosts = ["${down.address}", "${upstream.address}"]`,
      'tls = "opportunistic"',
      'auth_user = "relay"',
      'auth_password = "s3cret-pass"',
    ].join('\n'),
  );
  const runner = startQueueRunner({ spool, config, logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await spool.accept(envelope({ recipients: ['a@routed.test', 'b@x.sub.test', 'c@elsewhere.test'] }), rfc822('route'));
  await upstream.waitFor(1);
  await other.waitFor(1);
  assert.deepEqual(upstream.messages[0]?.to, ['a@routed.test', 'b@x.sub.test']);
  assert.equal(upstream.messages[0]?.user, 'relay');
  assert.equal(upstream.messages[0]?.secure, true);
  assert.deepEqual(other.messages[0]?.to, ['c@elsewhere.test']);
  await waitFor(() => spool.stats().size === 0, 5000, 'spool empty');
  const attempt = lines.find((l) => l.msg === 'delivery attempt' && l.destination === 'route:0');
  assert.deepEqual(attempt?.tried, [`${down.host}[${down.host}]:${down.port}`, `${upstream.host}[${upstream.host}]:${upstream.port}`]);
  assert.ok(!JSON.stringify(lines).includes('s3cret-pass'));
});

test('required TLS: a host without STARTTLS gets nothing, the message is deferred', async (t) => {
  const dir = await tempDir(t);
  const plain = await startSmtpSink({ starttls: false });
  t.after(() => plain.close());
  const { logger } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const config = testConfig(dir, `mode = "smarthost"\nretry_schedule = ["1h"]\n[delivery.smarthost]\nhosts = ["${plain.address}"]\ntls = "required"`);
  const runner = startQueueRunner({ spool, config, logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  const id = await spool.accept(envelope(), rfc822('required'));
  await waitFor(() => runner.stats().deferred === 1 && runner.stats().loaded === 0, 5000, 'deferral');
  assert.equal(plain.messages.length, 0);
  const state = (await spool.load(id))?.state;
  assert.equal(state?.recipients.get('bob@dest.test')?.status, 'deferred');
  assert.match(state?.recipients.get('bob@dest.test')?.reply ?? '', /TLS/i);
});

test('a failed TLS handshake falls back to plain text on an opportunistic route and is remembered', async (t) => {
  const dir = await tempDir(t);
  const broken = await startSmtpSink({ brokenTls: true });
  t.after(() => broken.close());
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const config = testConfig(dir, `mode = "smarthost"\n[delivery.smarthost]\nhosts = ["${broken.address}"]\ntls = "opportunistic"`);
  // No connection reuse, so the second message needs a connection of its own.
  const runner = startQueueRunner({ spool, config, logger, reuse: { maxMessages: 1 } });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await spool.accept(envelope(), rfc822('tls1'));
  await broken.waitFor(1);
  assert.equal(broken.connections, 2, 'a failed TLS attempt, then plain text');
  await spool.accept(envelope(), rfc822('tls2'));
  await broken.waitFor(2);
  assert.equal(broken.messages[0]?.secure, false);
  assert.equal(broken.messages[1]?.secure, false);
  assert.equal(broken.connections, 3, 'the second message went straight to plain text');
  assert.equal(lines.filter((l) => l.msg === 'TLS failed, retrying without TLS').length, 1);
});

test('per-destination rate: at most N messages a minute to one destination, the rest wait in the spool', async (t) => {
  const dir = await tempDir(t);
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const { logger } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const config = testConfig(dir, `mode = "smarthost"\nper_destination_rate = 2\n[delivery.smarthost]\nhosts = ["${sink.address}"]`);
  const runner = startQueueRunner({ spool, config, logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  for (let i = 0; i < 4; i++) await spool.accept(envelope(), rfc822(`rate${i}`));
  await sink.waitFor(2);
  await waitFor(() => runner.stats().delivered >= 2 && runner.stats().active === 0, 5000, 'the two attempts recorded');
  // Nothing announces "held back by the rate": a third delivery would start at once, so give it 500 ms to show.
  await watchFor(() => sink.messages.length > 2, 500);
  assert.equal(sink.messages.length, 2);
  assert.equal(spool.stats().size, 2);
});

test('a rate-limited destination with a backlog does not starve the others (its messages wait parked)', async (t) => {
  const dir = await tempDir(t);
  const slow = await startSmtpSink();
  const fast = await startSmtpSink();
  t.after(() => Promise.all([slow.close(), fast.close()]));
  const { logger } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const config = testConfig(
    dir,
    ['mode = "smarthost"', 'per_destination_rate = 2', '[delivery.smarthost]', `hosts = ["${slow.address}"]`, '[[delivery.routes]]', 'domains = ["fast.test"]', `hosts = ["${fast.address}"]`].join('\n'),
  );
  for (let i = 0; i < 20; i++) await spool.accept(envelope(), rfc822(`backlog${i}`));
  const runner = startQueueRunner({ spool, config, logger, maxLoaded: 8 });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  await slow.waitFor(2);
  await waitFor(() => runner.stats().parked > 0, 5000, 'parked messages');
  assert.ok(runner.stats().loaded <= 8);
  await spool.accept(envelope({ recipients: ['x@fast.test'] }), rfc822('fast1'));
  await spool.accept(envelope({ recipients: ['y@fast.test'] }), rfc822('fast2'));
  await fast.waitFor(2);
  await waitFor(() => spool.stats().size === 18, 5000, 'fast messages removed');
  assert.equal(slow.messages.length, 2);
});
