// TLS levels to the next hop over real sockets: a CA made in the test, an
// smtp-server upstream presenting a certificate it signed (or one it did not),
// MX names served by the test DNS server. verify delivers only to a
// certificate that chains to the configured CA and names the MX host (or the
// configured smarthost); every failure defers with its reason in the journal,
// in `relayguard queue show` and in the delivery log line, and nothing is ever
// sent in clear at encrypt or verify. Then REQUIRETLS messages (RFC 8689):
// verify at least, REQUIRETLS passed on, 5.7.10 and a DSN where it cannot be.
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openSpool, spoolDirOf } from '../../src/spool/spool.ts';
import { startQueueRunner, type DeliveryEvent } from '../../src/delivery/queue-runner.ts';
import { delivererConfig } from '../../src/delivery/deliverer.ts';
import { createWorkerDeliverer } from '../../src/delivery/worker-deliverer.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, rfc822, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { createTestCa, issueLeaf, type KeyPair } from '../helpers/test-pki.ts';
import { queue, writeConfig } from '../helpers/queue-cli.ts';
import { waitFor } from '../helpers/wait-for.ts';

const MX_NAME = 'mx.dest.test';
const MX_ADDRESS = '127.0.0.2';
const DAY = 86_400_000;

let ca: KeyPair;
let good: KeyPair;
let wrongName: KeyPair;
let otherCa: KeyPair;
let expired: KeyPair;

before(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa('someone else');
  good = await issueLeaf(ca, { names: [MX_NAME], ips: ['127.0.0.1'] });
  wrongName = await issueLeaf(ca, { names: ['other.example'] });
  expired = await issueLeaf(ca, { names: [MX_NAME], notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
});

interface Run {
  readonly sink: SmtpSink;
  readonly id: string;
  readonly lines: Array<Record<string, unknown>>;
  /** The recipient's outcome in the first attempt. */
  readonly status: string;
  readonly reply: string;
  readonly enhanced: string;
  /** `relayguard queue show ID` on the spool once the runner has stopped ('' when the message left the spool). */
  readonly shown: string;
}

interface AttemptOptions {
  /** The message declared REQUIRETLS at our front door. */
  readonly requireTls?: boolean;
  /** Deliver from the delivery worker thread, as `serve` does by default. */
  readonly worker?: boolean;
}

/**
 * One message from alice@sender.test to bob@dest.test through a sink started
 * with `sinkOptions`, under `delivery` (the [delivery] keys; SINK stands for
 * the sink's address, CA_FILE for the test CA's file). dest.test's MX (and
 * sender.test's, for bounces) is mx.dest.test at 127.0.0.2 on the sink's
 * port. A recipient that fails is bounced: the runner stops once the DSN
 * reached the sink.
 */
async function attempt(t: TestContext, sinkOptions: SinkOptions, delivery: string, options: AttemptOptions = {}): Promise<Run> {
  const dir = await tempDir(t);
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  const sink = await startSmtpSink({ host: MX_ADDRESS, ...sinkOptions });
  t.after(() => sink.close());
  const dns = await startDnsServer();
  t.after(() => dns.close());
  for (const domain of ['dest.test', 'sender.test']) dns.add({ name: domain, type: 'MX', data: { preference: 10, exchange: MX_NAME } });
  dns.add({ name: MX_NAME, type: 'A', data: MX_ADDRESS });
  const text = delivery.replaceAll('SINK', sink.address).replaceAll('CA_FILE', JSON.stringify(caFile));
  const config = testConfig(
    path.join(dir, 'data'),
    `mx_port = ${sink.port}\nretry_schedule = ["1h"]\nconnect_timeout = "3s"\n${text}`,
    `[dns]\nservers = ["${dns.address}"]\ntimeout = "500ms"\ntries = 1`,
  );
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir: spoolDirOf(config), logger });
  const deliverer = options.worker ? createWorkerDeliverer({ config: delivererConfig(config), logger }) : undefined;
  const runner = startQueueRunner({ spool, config, logger, ...(deliverer ? { deliverer } : {}) });
  const events: DeliveryEvent[] = [];
  runner.subscribe((event) => events.push(event));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await runner.stop(2000);
    await spool.close();
  };
  t.after(stop);
  const esmtp = options.requireTls ? { esmtp: { requiretls: true as const } } : {};
  const id = await spool.accept(envelope({ recipients: ['bob@dest.test'], ...esmtp }), rfc822('tls levels'));
  const first = () => events.find((e): e is Extract<DeliveryEvent, { type: 'attempt' }> => e.type === 'attempt' && e.queueId === id);
  await waitFor(() => first() !== undefined, 10_000, 'the first attempt');
  const result = first()?.results[0];
  let state = (await spool.load(id))?.state;
  await waitFor(async () => (state = (await spool.load(id))?.state) === undefined || state.attempts >= 1, 5000, 'the attempt in the journal');
  if (result?.status === 'failed') await sink.waitFor(1);
  await stop();
  let shown = '';
  if (state) {
    const file = await writeConfig(dir, sink.address);
    const run = await queue(['show', id, '--config', file]);
    assert.equal(run.code, 0, run.err);
    shown = run.out;
  }
  return { sink, id, lines, status: result?.status ?? '', reply: result?.reply ?? '', enhanced: result?.enhanced ?? '', shown };
}

function attemptLine(run: Run): { status: string; reply: string } | undefined {
  const line = run.lines.find((l) => l.msg === 'delivery attempt' && l.queueId === run.id);
  return (line?.results as Array<{ status: string; reply: string }> | undefined)?.[0];
}

/** Deferred, nothing received upstream, and the same reason in the journal, `queue show` and the delivery log. */
function assertDeferred(run: Run, reason: RegExp, enhanced: string): void {
  assert.equal(run.status, 'deferred');
  assert.match(run.reply, reason);
  assert.equal(run.enhanced, enhanced);
  assert.equal(run.sink.messages.length, 0, 'nothing reached the upstream');
  assert.ok(run.shown.includes(run.reply), `queue show names the reason:\n${run.shown}`);
  assert.equal(attemptLine(run)?.reply, run.reply, 'the delivery log line names the reason');
}

test('verify, MX: a certificate from the configured CA naming the MX host is delivered over TLS', async (t) => {
  const run = await attempt(t, { certificate: good }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE');
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages.length, 1);
  assert.equal(run.sink.messages[0]?.secure, true);
  assert.deepEqual(run.sink.messages[0]?.to, ['bob@dest.test']);
  assert.match(run.sink.messages[0]?.raw.toString() ?? '', /Subject: tls levels/);
});

test('verify from the delivery worker thread: the same checks, the CA file read there', async (t) => {
  const run = await attempt(t, { certificate: good }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE', { worker: true });
  assert.equal(run.status, 'delivered', run.reply);
  assert.equal(run.sink.messages[0]?.secure, true);
  const refused = await attempt(t, { certificate: wrongName }, 'mode = "mx"\ntls = "verify"\ntls_ca_file = CA_FILE', { worker: true });
  assertDeferred(refused, /^TLS required \(level verify\) but certificate verification failed: Hostname\/IP does not match/, '4.7.5');
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
  const stranger = await issueLeaf(otherCa, { names: [MX_NAME] });
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

// REQUIRETLS (RFC 8689), delivery half: the envelope carries it (written
// through the spool API: the front door still refuses the parameter).

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
