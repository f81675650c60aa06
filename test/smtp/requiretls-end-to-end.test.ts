// REQUIRETLS (RFC 8689) end to end over real sockets: a client declares it
// at our front door after STARTTLS, the message goes through the spool, and
// delivery honours it against an smtp-server upstream with a test CA: level
// verify and MAIL FROM ... REQUIRETLS when the smarthost offers it; a
// smarthost (not the last hop) that does not offer it gets nothing and the
// sender gets a 5.7.10 DSN.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HARNESS_LISTENERS, startHarness } from '../helpers/relay-harness.ts';
import { openSession } from '../helpers/e2e-relay-client.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { testPki } from '../helpers/tls-delivery.ts';
import { tempDir } from '../helpers/spool-fixtures.ts';

const OUTSIDE = '127.0.0.3';

/** A relay whose smarthost is an smtp-server sink at 127.0.0.1 with a certificate from the test CA; one REQUIRETLS message sent in. */
async function sendRequireTls(t: TestContext, offerRequireTls: boolean): Promise<SmtpSink> {
  const pki = await testPki();
  const caFile = path.join(await tempDir(t), 'ca.pem');
  await writeFile(caFile, pki.ca.cert);
  const sink = await startSmtpSink({ certificate: pki.good, ...(offerRequireTls ? { offerRequireTls: true } : {}) });
  t.after(() => sink.close());
  const config = `${HARNESS_LISTENERS}
[delivery]
mode = "smarthost"
retry_schedule = ["1h"]

[delivery.smarthost]
hosts = ["${sink.address}"]
tls = "opportunistic"
tls_ca_file = ${JSON.stringify(caFile)}
`;
  const harness = await startHarness({ config, policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' } });
  t.after(() => harness.stop());
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  assert.equal((await talk.starttls()).code, 220);
  const ehlo = await talk.command('EHLO client.test');
  assert.ok(ehlo.lines.some((l) => l.slice(4) === 'REQUIRETLS'), ehlo.lines.join(' | '));
  assert.equal((await talk.command('MAIL FROM:<sender@outside.test> REQUIRETLS')).code, 250);
  assert.equal((await talk.command('RCPT TO:<bob@example.test>')).code, 250);
  assert.equal((await talk.command('DATA')).code, 354);
  assert.equal((await talk.command('Subject: secret\r\n\r\nonly over verified TLS\r\n.')).code, 250);
  return sink;
}

test('REQUIRETLS declared after STARTTLS reaches a smarthost that offers it: over TLS (verified) with MAIL FROM ... REQUIRETLS', async (t) => {
  const sink = await sendRequireTls(t, true);
  await sink.waitFor(1);
  const message = sink.messages[0];
  assert.deepEqual(message?.to, ['bob@example.test']);
  assert.equal(message?.secure, true);
  assert.equal(message?.requireTls, true);
  assert.match(message?.raw.toString() ?? '', /only over verified TLS/);
});

test('REQUIRETLS through a smarthost that does not offer it (not the last hop): never sent, a 5.7.10 DSN to the sender', async (t) => {
  const sink = await sendRequireTls(t, false);
  await sink.waitFor(1);
  const dsn = sink.messages[0];
  assert.equal(dsn?.from, '');
  assert.deepEqual(dsn?.to, ['sender@outside.test']);
  const raw = dsn?.raw.toString() ?? '';
  assert.match(raw, /Status: 5\.7\.10/);
  assert.match(raw, /does not offer REQUIRETLS/);
  assert.equal(sink.messages.filter((m) => m.to.includes('bob@example.test')).length, 0, 'the message itself never reached the smarthost');
});
