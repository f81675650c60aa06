// REQUIRETLS (RFC 8689), delivery half, over real sockets
// (test/helpers/tls-delivery.ts): the envelope carries it, written through
// the spool API (front door to delivery: test/smtp/requiretls-end-to-end.test.ts). Level verify at
// least, REQUIRETLS passed on to a next hop that offers it, a last hop (MX,
// or last_hop = true) may go without it, and 5.7.10 with a DSN otherwise.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { attempt, testPki, type Run, type TestPki } from '../helpers/tls-delivery.ts';

let good: TestPki['good'];

before(async () => {
  ({ good } = await testPki());
});

/** The DSN the sink received for a failed REQUIRETLS message: to the sender, naming 5.7.10. */
function assertBounced(run: Run, reason: RegExp): void {
  assert.equal(run.status, 'failed');
  assert.equal(run.enhanced, '5.7.10');
  assert.match(run.reply, reason);
  assert.equal(run.sink.messages.length, 1, 'only the DSN reached the sink');
  const dsn = run.sink.messages[0];
  assert.equal(dsn?.from, '');
  assert.deepEqual(dsn?.to, ['alice@sender.test']);
  assert.match(dsn?.raw.toString() ?? '', /Status: 5\.7\.10/);
  assert.equal(run.shown, '', 'the message left the queue');
}

test('REQUIRETLS, MX (the last hop): raised to verify, passed on with MAIL FROM ... REQUIRETLS when offered', async (t) => {
  const run = await attempt(t, { certificate: good, offerRequireTls: true }, 'mode = "mx"\ntls_ca_file = CA_FILE', { requireTls: true });
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
  assert.equal(run.sink.messages[0]?.requireTls, true);
});

test('REQUIRETLS, MX (the last hop) without REQUIRETLS: delivered at verify, without the parameter', async (t) => {
  const run = await attempt(t, { certificate: good }, 'mode = "mx"\ntls = "none"\ntls_ca_file = CA_FILE', { requireTls: true });
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true, 'tls = "none" was raised to verify');
  assert.equal(run.sink.messages[0]?.requireTls, false);
});

test('REQUIRETLS at an opportunistic MX with a certificate that does not verify: bounced with 5.7.10, never sent', async (t) => {
  const run = await attempt(t, {}, 'mode = "mx"\ntls_ca_file = CA_FILE', { requireTls: true });
  assertBounced(run, /^REQUIRETLS \(RFC 8689\): TLS required \(level verify\) but certificate verification failed: /);
});

test('REQUIRETLS through a smarthost (not the last hop) without REQUIRETLS: bounced with 5.7.10', async (t) => {
  const run = await attempt(
    t,
    { host: '127.0.0.1', certificate: good },
    'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["SINK"]\ntls_ca_file = CA_FILE',
    { requireTls: true },
  );
  assertBounced(run, /^REQUIRETLS \(RFC 8689\): 127\.0\.0\.1\[127\.0\.0\.1\]:\d+ does not offer REQUIRETLS/);
});

test('REQUIRETLS through a smarthost marked last_hop without REQUIRETLS: delivered at verify', async (t) => {
  const run = await attempt(
    t,
    { host: '127.0.0.1', certificate: good },
    'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["SINK"]\ntls_ca_file = CA_FILE\nlast_hop = true',
    { requireTls: true },
  );
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
  assert.equal(run.sink.messages[0]?.requireTls, false);
});

test('REQUIRETLS through a smarthost that offers it: passed on', async (t) => {
  const run = await attempt(t, { host: '127.0.0.1', certificate: good, offerRequireTls: true }, 'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["SINK"]\ntls = "encrypt"\ntls_ca_file = CA_FILE', {
    requireTls: true,
  });
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.requireTls, true);
});
