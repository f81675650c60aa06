// Delivery attempts in a worker thread ([delivery] worker = true): the queue
// runner and the spool stay in this thread, the SMTP sessions run in the
// worker, over real sockets to a recording sink.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { openSpool } from '../../src/spool/spool.ts';
import { startQueueRunner, type QueueRunner } from '../../src/delivery/queue-runner.ts';
import { delivererConfig } from '../../src/delivery/deliverer.ts';
import { createWorkerDeliverer } from '../../src/delivery/worker-deliverer.ts';
import { workerEntryUrl } from '../../src/delivery/worker-entry.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const smarthost = (address: string, tls = 'none') => `mode = "smarthost"\nretry_schedule = ["1m"]\n[delivery.smarthost]\nhosts = ["${address}"]\ntls = "${tls}"`;

/** A spool in a temp dir and a sink to deliver to; after the test, the runners `track`ed stop, then the spool closes. */
async function setUp(t: TestContext, sinkOptions: Parameters<typeof startSmtpSink>[0] = {}, tls = 'none') {
  const dir = await tempDir(t);
  const sink = await startSmtpSink(sinkOptions);
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const runners: QueueRunner[] = [];
  t.after(async () => {
    for (const runner of runners) await runner.stop(1000);
    await spool.close();
    await sink.close();
  });
  const track = (runner: QueueRunner) => (runners.push(runner), runner);
  return { sink, logger, lines, spool, track, config: testConfig(dir, smarthost(sink.address, tls)) };
}

test('the worker delivers byte for byte and keeps the connection for the next message', async (t) => {
  const { sink, logger, lines, spool, track, config } = await setUp(t);
  const deliverer = createWorkerDeliverer({ config: delivererConfig(config), logger: logger.child({ component: 'delivery' }) });
  const runner = track(startQueueRunner({ spool, config, logger, deliverer }));
  const bodies = [rfc822('one', '.dot first\r\nline\r\n'), rfc822('two')];
  for (const body of bodies) await spool.accept(envelope({ recipients: ['a@dest.test', 'b@dest.test'] }), Readable.from([body]));
  await sink.waitFor(2);
  // Byte for byte, in either order: the two attempts may run at once, on two connections.
  assert.deepEqual(sink.messages.map((m) => m.raw).sort(Buffer.compare), [...bodies].sort(Buffer.compare));
  assert.deepEqual(sink.messages[0]?.to, ['a@dest.test', 'b@dest.test']);
  await waitFor(() => spool.stats().size === 0, 5000, 'both removed');
  assert.equal(runner.stats().delivered, 4);
  assert.ok(runner.stats().idleConnections >= 1, 'the worker reports its idle connection');
  assert.equal(lines.filter((l) => l.msg === 'delivery attempt').length, 2);
});

test('a worker that dies during an attempt: the message is deferred, kept, and delivered by the next worker', async (t) => {
  const { sink, logger, lines, spool, track, config } = await setUp(t);
  const crashing = createWorkerDeliverer({
    config: delivererConfig(config),
    logger,
    workerUrl: workerEntryUrl('../test/helpers/delivery-worker-crash.ts'),
  });
  const first = startQueueRunner({ spool, config, logger, deliverer: crashing, control: false });
  const id = await spool.accept(envelope({ recipients: ['c@dest.test'] }), rfc822('survives'));
  let loaded = await spool.load(id);
  await waitFor(async () => (loaded = await spool.load(id))?.state.attempts === 1, 10_000, 'the crashed attempt in the journal');
  assert.equal(loaded?.state.attempts, 1, 'the attempt is recorded');
  assert.equal(loaded?.state.recipients.get('c@dest.test')?.status, 'deferred');
  assert.ok(lines.some((l) => l.msg === 'the delivery worker exited; attempts in flight will be retried'));
  assert.equal(sink.messages.length, 0);
  await first.stop(1000);

  const deliverer = createWorkerDeliverer({ config: delivererConfig(config), logger });
  const second = track(startQueueRunner({ spool, config, logger, deliverer, control: false }));
  await second.retry(id);
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]?.raw, rfc822('survives'));
  await waitFor(() => spool.stats().size === 0, 5000, 'removed after delivery');
});

test("the worker's log lines reach the main logger, and its TLS memory holds across messages", async (t) => {
  const { sink: broken, logger, lines, spool, track, config } = await setUp(t, { brokenTls: true }, 'opportunistic');
  const deliverer = createWorkerDeliverer({ config: delivererConfig(config), logger: logger.child({ component: 'delivery' }), reuse: { maxMessages: 1 } });
  track(startQueueRunner({ spool, config, logger, deliverer, control: false }));
  await spool.accept(envelope(), rfc822('tls1'));
  await broken.waitFor(1);
  await spool.accept(envelope(), rfc822('tls2'));
  await broken.waitFor(2);
  assert.equal(broken.connections, 3, 'a failed TLS attempt, then plain text twice');
  const warned = lines.filter((l) => l.msg === 'TLS failed, retrying without TLS');
  assert.equal(warned.length, 1, 'logged once, by the worker');
  assert.equal(warned[0]?.component, 'delivery');
  assert.equal(warned[0]?.service, 'relayguard');
});

test('a worker that stops answering (stuck, not dead) is replaced; its attempt in flight fails and is retried like a crash', async (t) => {
  const { logger, lines, config } = await setUp(t);
  const stuck = createWorkerDeliverer({
    config: delivererConfig(config),
    logger,
    workerUrl: workerEntryUrl('../test/helpers/delivery-worker-hang.ts'),
    watchdog: { intervalMs: 50, timeoutMs: 300 },
  });
  t.after(() => stuck.close());
  const request = {
    queueId: 'stuck',
    sender: 'a@src.test',
    recipients: ['b@dest.test'],
    destination: { kind: 'mx' as const, key: 'mx:dest.test', domain: 'dest.test' },
    size: 5,
    body: Buffer.from('body\n'),
  };
  // Bounded: the watchdog fires after ~300 ms; without it this would never settle.
  const outcome = await Promise.race([
    stuck.deliver(request).then(() => 'delivered', (error: Error) => error.message),
    new Promise<string>((resolve) => setTimeout(() => resolve('still pending after 10 s'), 10_000).unref()),
  ]);
  assert.equal(outcome, 'the delivery worker exited during the attempt');
  assert.ok(lines.some((l) => l.msg === 'the delivery worker stopped answering; replacing it'));
});
