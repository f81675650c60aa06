// Issue 21 with real Postfix on both sides: client -> Postfix A (private
// instance, test/helpers/postfix-instance.ts) -> relayguard -> Postfix B ->
// an smtp-server sink that records the bytes Postfix B passed on (the
// private instances do no local delivery, so the sink is where the last
// hop's mail is read). Postfix B has two smtpd listeners: the full one
// (SMTPUTF8, 8BITMIME, DSN, STARTTLS with a certificate from a test CA) and a
// 7-bit one that discards 8BITMIME and DSN (smtpd_discard_ehlo_keywords).
// relayguard sends example.test to the full listener (smarthost, not a last
// hop), seven.test to the 7-bit one and last.test to the full one marked
// last_hop (routes). Checked: a UTF-8 message (SMTPUTF8 envelope) end to end;
// an 8-bit message to the 7-bit listener arrives as quoted-printable; DSN
// NOTIFY/ENVID passed on through both Postfixes, and honoured by relayguard
// (a "relayed" DSN) where Postfix B does not offer DSN; REQUIRETLS (Postfix
// 3.7 neither sends nor offers it, so the client is our own): refused in
// clear, delivered at TLS level verify to the last hop, and bounced 5.7.10
// through a hop that is not the last.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../helpers/smtp-sink.ts';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { freePort, postfixMissing, startPostfix, type PostfixInstance } from '../helpers/postfix-instance.ts';
import { SmtpTalk, type SmtpReply } from '../helpers/smtp-talk.ts';
import { testPki } from '../helpers/tls-delivery.ts';
import { waitFor } from '../helpers/wait-for.ts';

const missing = postfixMissing();

let dir: string;
let sink: SmtpSink;
let postfixB: PostfixInstance;
let relay: RelayHarness;
let postfixA: PostfixInstance;
const stops: Array<() => Promise<void>> = [];

before(async () => {
  if (missing) return;
  dir = await mkdtemp(path.join(os.tmpdir(), 'relayguard-esmtp-interop-'));
  await chmod(dir, 0o755);
  const pki = await testPki();
  const caFile = path.join(dir, 'ca.pem');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await writeFile(caFile, pki.ca.cert);
  await writeFile(certFile, pki.good.cert);
  await writeFile(keyFile, pki.good.key, { mode: 0o600 });

  sink = await startSmtpSink({ dsn: true });
  stops.unshift(() => sink.close());
  const sevenBitPort = await freePort();
  const toSink = `smtp:[127.0.0.1]:${sink.port}`;
  postfixB = await startPostfix({
    main: {
      default_transport: toSink,
      relay_transport: toSink,
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: certFile,
      smtpd_tls_key_file: keyFile,
      smtpd_tls_loglevel: '1',
    },
    master: [
      `127.0.0.1:${sevenBitPort} inet n - n - - smtpd -o smtpd_discard_ehlo_keywords=8bitmime,dsn`,
      // smtpd's TLS needs the TLS session cache / entropy manager (not in the helper's minimal master.cf).
      'tlsmgr unix - - n 1000? 1 tlsmgr',
    ],
  });
  stops.unshift(() => postfixB.stop());

  relay = await startHarness({
    config: `${HARNESS_LISTENERS}
[delivery]
mode = "smarthost"
retry_schedule = ["1h"]
tls_ca_file = ${JSON.stringify(caFile)}

[delivery.smarthost]
hosts = ["127.0.0.1:${postfixB.smtpPort}"]
tls = "opportunistic"

[[delivery.routes]]
domains = ["seven.test"]
hosts = ["127.0.0.1:${sevenBitPort}"]
tls = "none"

[[delivery.routes]]
domains = ["last.test"]
hosts = ["127.0.0.1:${postfixB.smtpPort}"]
last_hop = true
`,
    policies: { 'local-domains': 'example.test\n', 'relay-networks': '127.0.0.1\n' },
  });
  stops.unshift(() => relay.stop());

  const toRelay = `smtp:[127.0.0.1]:${relay.port('mx')}`;
  postfixA = await startPostfix({ main: { default_transport: toRelay, relay_transport: toRelay } });
  stops.unshift(() => postfixA.stop());
});

after(async () => {
  if (process.env.INTEROP_DEBUG && postfixA && postfixB) {
    console.log(`--- postfix A\n${await postfixA.maillog()}\n--- postfix B\n${await postfixB.maillog()}\n--- relayguard\n${relay.logs.map((l) => JSON.stringify(l)).join('\n')}`);
  }
  for (const stop of stops) await stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** One SMTP transaction: every reply, the last one being the end of DATA's. */
async function send(port: number, mail: string, rcpts: readonly string[], message: string | Buffer, tls = false): Promise<SmtpReply[]> {
  const talk = await SmtpTalk.connect({ port, timeoutMs: 15_000 });
  try {
    const replies: SmtpReply[] = [(await talk.read()) as SmtpReply];
    replies.push(await talk.command('EHLO client.test'));
    if (tls) {
      replies.push(await talk.starttls());
      replies.push(await talk.command('EHLO client.test'));
    }
    replies.push(await talk.command(`MAIL FROM:${mail}`));
    for (const rcpt of rcpts) replies.push(await talk.command(`RCPT TO:${rcpt}`));
    replies.push(await talk.command('DATA'));
    talk.write(Buffer.concat([Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8'), Buffer.from('\r\n.\r\n')]));
    replies.push((await talk.read()) as SmtpReply);
    await talk.command('QUIT').catch(() => undefined);
    return replies;
  } finally {
    talk.close();
  }
}

const codes = (replies: readonly SmtpReply[]): number[] => replies.map((r) => r.code);

/** The first message at the sink that matches, waited for. */
async function arrived(match: (m: SinkMessage) => boolean, what: string): Promise<SinkMessage> {
  let found: SinkMessage | undefined;
  await waitFor(() => (found = sink.messages.find(match)) !== undefined, 30_000, what);
  return found as SinkMessage;
}

test('a UTF-8 message: SMTPUTF8 envelope and UTF-8 headers through Postfix -> relayguard -> Postfix, bytes intact', { skip: missing }, async () => {
  const replies = await send(postfixA.smtpPort, '<jürgen@outside.test> SMTPUTF8', ['<zoë@example.test>'], 'From: Jürgen <jürgen@outside.test>\r\nTo: zoë@example.test\r\nSubject: Grüße aus Köln\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSchöne Grüße\r\n');
  assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.text);
  const message = await arrived((m) => m.to.includes('zoë@example.test'), 'the UTF-8 message at the last hop');
  assert.equal(message.from, 'jürgen@outside.test');
  assert.equal(message.mailArgs.SMTPUTF8, true, 'Postfix B passed SMTPUTF8 on, so relayguard gave it to B');
  const raw = message.raw.toString('utf8');
  assert.match(raw, /^Subject: Grüße aus Köln\r$/m);
  assert.match(raw, /Schöne Grüße/);
  assert.match(raw, /Received: from [^]*by [^]* with UTF8SMTP/, 'relayguard received it with SMTPUTF8');
});

test('DSN: NOTIFY=SUCCESS,FAILURE, ORCPT, RET and ENVID passed on through both Postfixes', { skip: missing }, async () => {
  const replies = await send(postfixA.smtpPort, '<alice@outside.test> RET=HDRS ENVID=env-21-a', ['<dsn@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dsn@example.test'], 'Subject: dsn passed on\r\n\r\nhello\r\n');
  assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.text);
  const message = await arrived((m) => m.to.includes('dsn@example.test'), 'the DSN-parameter message at the last hop');
  assert.deepEqual(message.dsn, { ret: 'HDRS', envid: 'env-21-a' });
  const rcpt = message.rcptDsn[0] as { notify?: string[]; orcpt?: string };
  assert.deepEqual(rcpt.notify, ['SUCCESS', 'FAILURE']);
  assert.match(String(rcpt.orcpt), /rfc822;dsn@example\.test/i);
});

test('DSN to a next hop without DSN: relayguard honours NOTIFY=SUCCESS itself (a "relayed" DSN with Original-Envelope-Id)', { skip: missing }, async () => {
  const replies = await send(postfixA.smtpPort, '<bob@outside.test> ENVID=env-21-b', ['<dsn@seven.test> NOTIFY=SUCCESS,FAILURE'], 'Subject: dsn honoured\r\n\r\nhello\r\n');
  assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.text);
  const message = await arrived((m) => m.to.includes('dsn@seven.test'), 'the message at the 7-bit listener');
  // Postfix B adds an ORCPT of its own when its next hop offers DSN; the NOTIFY could only have come from us.
  assert.equal((message.rcptDsn[0] as { notify?: unknown } | null)?.notify, undefined, 'no NOTIFY went to a hop that does not offer DSN');
  const dsn = await arrived((m) => m.to.includes('bob@outside.test') && m.from === '', 'the relayed DSN to the sender');
  const raw = dsn.raw.toString('utf8');
  assert.match(raw, /^Action: relayed\r$/m);
  assert.match(raw, /^Original-Envelope-Id: env-21-b\r$/m);
  assert.match(raw, /^Final-Recipient: rfc822; ?dsn@seven\.test\r$/m);
});

test('an 8-bit message to a 7-bit-only Postfix (smtpd_discard_ehlo_keywords = 8bitmime) arrives quoted-printable', { skip: missing }, async () => {
  const replies = await send(postfixA.smtpPort, '<carol@outside.test> BODY=8BITMIME', ['<eight@seven.test>'], 'Subject: eight bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, café\r\n');
  assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.text);
  const message = await arrived((m) => m.to.includes('eight@seven.test'), 'the 8-bit message at the 7-bit listener');
  assert.equal(message.mailArgs.BODY, undefined, 'Postfix B got no BODY=8BITMIME, so passed none on');
  const raw = message.raw;
  assert.ok(raw.every((byte) => byte < 0x80), 'not one 8-bit byte reached the last hop');
  const text = raw.toString('latin1');
  assert.match(text, /^Content-Transfer-Encoding: quoted-printable\r$/im);
  assert.match(text, /Gr=C3=BC=C3=9Fe, caf=C3=A9/);
});

test('REQUIRETLS: refused in clear (555 5.5.4), delivered at TLS level verify to a last hop, bounced 5.7.10 through a hop that is not the last', { skip: missing }, async () => {
  const clear = await send(relay.port('mx'), '<dave@outside.test> REQUIRETLS', [], '');
  const mail = clear.find((r) => /REQUIRETLS|5\.5\.4/.test(r.text) || r.code === 555);
  assert.equal(mail?.code, 555, clear.map((r) => r.lines.join(' | ')).join('\n'));
  assert.match(mail?.text ?? '', /^5\.5\.4 /);

  const honoured = await send(relay.port('mx'), '<dave@outside.test> REQUIRETLS', ['<secret@last.test>'], 'Subject: requiretls\r\n\r\nonly over verified TLS\r\n', true);
  assert.deepEqual(codes(honoured).slice(-4), [250, 250, 354, 250], honoured.map((r) => r.lines.join(' | ')).join('\n'));
  const message = await arrived((m) => m.to.includes('secret@last.test'), 'the REQUIRETLS message via the last hop');
  assert.match(message.raw.toString('utf8'), /only over verified TLS/);
  await waitFor(async () => /TLS connection established from [^\n]*127\.0\.0\.1/.test(await postfixB.maillog()), 10_000, 'Postfix B logs the TLS session from relayguard');

  const bounced = await send(relay.port('mx'), '<erin@outside.test> REQUIRETLS', ['<secret@example.test>'], 'Subject: requiretls 2\r\n\r\nnot through a relay that drops it\r\n', true);
  assert.equal(bounced.at(-1)?.code, 250);
  const dsn = await arrived((m) => m.to.includes('erin@outside.test') && m.from === '', 'the 5.7.10 DSN');
  assert.match(dsn.raw.toString('utf8'), /Status: 5\.7\.10/);
  assert.equal(sink.messages.some((m) => m.to.includes('secret@example.test')), false, 'the message never went through the hop without REQUIRETLS');
});
