// TLS levels to the next hop over real sockets (test/helpers/tls-delivery.ts):
// a CA made in the test, an smtp-server upstream presenting a certificate it
// signed (or one it did not), MX names served by the test DNS server. verify
// delivers only to a certificate that chains to the configured CA and names
// the MX host (or the configured smarthost); every failure defers with its
// reason in the journal, in `relayguard queue show` and in the delivery log
// line, and nothing is ever sent in clear at encrypt or verify.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDeferred, attempt, testPki, type TestPki } from '../helpers/tls-delivery.ts';

let good: TestPki['good'];
let wrongName: TestPki['wrongName'];
let expired: TestPki['expired'];
let stranger: TestPki['stranger'];

before(async () => {
  ({ good, wrongName, expired, stranger } = await testPki());
});

test('verify, MX: a certificate from the configured CA naming the MX host is delivered over TLS', async (t) => {
  const run = await attempt(t, { certificate: good }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages.length, 1);
  assert.equal(run.sink.messages[0]?.secure, true);
  assert.deepEqual(run.sink.messages[0]?.to, ['bob@dest.test']);
  assert.match(run.sink.messages[0]?.raw.toString() ?? '', /Subject: tls levels/);
});

test('verify from the delivery worker thread (serve\'s default): the CA file is read there, the name still checked', async (t) => {
  // The chain verified (the CA file reached the worker): only the name is refused.
  const run = await attempt(t, { certificate: wrongName }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE', { worker: true });
  assertDeferred(run, /^TLS required \(level verify\) but certificate verification failed: Hostname\/IP does not match/, '4.7.5');
});

test('verify, smarthost by address: the name matched is the configured host (an IP address in subjectAltName)', async (t) => {
  const run = await attempt(t, { host: '127.0.0.1', certificate: good }, 'mode = "smarthost"\n[delivery.smarthost]\nhosts = ["SINK"]\ntls = "verify"\ntls_ca_file = CA_FILE');
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
});

test('verify: a certificate for another name is deferred with the reason, nothing sent', async (t) => {
  const run = await attempt(t, { certificate: wrongName }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assertDeferred(
    run,
    /^TLS required \(level verify\) but certificate verification failed: .*mx\.dest\.test.*other\.example.* \(host mx\.dest\.test\[127\.0\.0\.2\]:\d+\)$/,
    '4.7.5',
  );
});

test('verify: a certificate from an unknown CA is deferred with the reason', async (t) => {
  const run = await attempt(t, { certificate: stranger }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assertDeferred(run, /^TLS required \(level verify\) but certificate verification failed: unable to verify the first certificate \(host mx\.dest\.test\[127\.0\.0\.2\]:\d+\)$/, '4.7.5');
});

test('verify without a CA file: Node\'s built-in CAs do not know the test CA; an expired certificate is refused too', async (t) => {
  const builtIn = await attempt(t, { certificate: good }, 'mode = "mx"\ntls = "verify"');
  assertDeferred(builtIn, /^TLS required \(level verify\) but certificate verification failed: unable to verify the first certificate/, '4.7.5');
  const old = await attempt(t, { certificate: expired }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assertDeferred(old, /^TLS required \(level verify\) but certificate verification failed: certificate has expired \(host /, '4.7.5');
});

test('verify on a route: its own tls_ca_file; the global level stays opportunistic for the rest', async (t) => {
  const run = await attempt(
    t,
    { host: '127.0.0.1', certificate: good },
    'mode = "mx"\n[[delivery.routes]]\ndomains = ["dest.test"]\nhosts = ["SINK"]\ntls = "verify"\ntls_ca_file = CA_FILE',
  );
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
});

test('encrypt: an upstream without STARTTLS gets nothing, the reason says STARTTLS is not offered', async (t) => {
  const run = await attempt(t, { starttls: false }, 'mode = "mx"\ntls = "encrypt"');
  assertDeferred(run, /^TLS required \(level encrypt\) but STARTTLS is not offered by mx\.dest\.test\[127\.0\.0\.2\]:\d+ \(5\d\d /, '4.7.4');
  assert.equal(run.sink.connections, 1, 'one connection, no retry in clear');
});

test('verify: an upstream without STARTTLS is deferred the same way', async (t) => {
  const run = await attempt(t, { starttls: false }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assertDeferred(run, /^TLS required \(level verify\) but STARTTLS is not offered by /, '4.7.4');
});

test('encrypt (and its old name "required"): a certificate nobody can verify is fine, the session is encrypted', async (t) => {
  for (const level of ['encrypt', 'required']) {
    const run = await attempt(t, { certificate: wrongName }, `mode = "mx"\ntls = "${level}"`);
    assert.equal(run.status, 'delivered', `${level}: ${run.reply}`);
    assert.equal(run.sink.messages[0]?.secure, true);
  }
});

test('opportunistic (the default): smtp-server\'s self-signed certificate is not verified, the message is delivered over TLS', async (t) => {
  const run = await attempt(t, {}, 'mode = "mx"');
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
});

test('encrypt: a failed handshake is deferred, never retried in clear', async (t) => {
  const run = await attempt(t, { brokenTls: true }, 'mode = "mx"\ntls = "encrypt"');
  assertDeferred(run, /^TLS required \(level encrypt\) but the TLS handshake failed: .* \(host mx\.dest\.test\[127\.0\.0\.2\]:\d+\)$/, '4.7.5');
  assert.equal(run.sink.connections, 1, 'no second connection in clear');
});
