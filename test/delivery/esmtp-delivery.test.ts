// Issue 21, delivery side, over real sockets: envelopes with ESMTP and DSN
// parameters are put into the spool directly, the queue runner delivers
// them to an smtp-server upstream that offers, or hides, SMTPUTF8, 8BITMIME
// and DSN, and the test checks what the upstream received.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'libqp';
import { openSpool, type Spool } from '../../src/spool/spool.ts';
import { startQueueRunner } from '../../src/delivery/queue-runner.ts';
import type { Envelope } from '../../src/spool/types.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../helpers/smtp-sink.ts';
import { captureLogger, envelope, tempDir, testConfig } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';

const smarthost = (address: string, extra = '') =>
  `mode = "smarthost"\nretry_schedule = ["1m"]\n${extra}\n[delivery.smarthost]\nhosts = ["${address}"]\ntls = "none"`;

interface Setup {
  readonly sink: SmtpSink;
  readonly spool: Spool;
  readonly lines: Array<Record<string, unknown>>;
  /** Puts the message into the spool and waits until the spool is empty again (delivered, bounces included). */
  run(env: Partial<Envelope>, message: Buffer, messages: number): Promise<void>;
}

async function setup(t: TestContext, sinkOptions: SinkOptions, extra = ''): Promise<Setup> {
  const dir = await tempDir(t);
  const sink = await startSmtpSink({ starttls: false, ...sinkOptions });
  t.after(() => sink.close());
  const { logger, lines } = captureLogger();
  const spool = await openSpool({ dir, logger });
  const runner = startQueueRunner({ spool, config: testConfig(dir, smarthost(sink.address, extra)), logger });
  t.after(async () => {
    await runner.stop(1000);
    await spool.close();
  });
  return {
    sink,
    spool,
    lines,
    async run(env, message, messages) {
      await spool.accept(envelope(env), message);
      await sink.waitFor(messages);
      await waitFor(() => spool.stats().size === 0, 5000, 'spool empty');
      assert.equal(sink.messages.length, messages, 'messages at the upstream');
    },
  };
}

const utf8Message = Buffer.from('From: Jörg <jörg@sender.test>\r\nTo: Ünï <ünï@dest.test>\r\nSubject: Grüße\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln.\r\n', 'utf8');

test('SMTPUTF8: a UTF-8 envelope goes with SMTPUTF8 to a hop that offers it, byte for byte', async (t) => {
  const s = await setup(t, {});
  const env = { sender: 'jörg@sender.test', recipients: ['ünï@dest.test', 'bob@dëst.test'], esmtp: { smtputf8: true as const, body: '8BITMIME' as const } };
  await s.run(env, utf8Message, 1);
  const got = s.sink.messages[0];
  assert.equal(got?.mailArgs.SMTPUTF8, true);
  assert.equal(got?.mailArgs.BODY, '8BITMIME');
  assert.equal(got?.from, 'jörg@sender.test');
  assert.ok(s.sink.commands.includes('MAIL FROM:<jörg@sender.test> SMTPUTF8 BODY=8BITMIME SIZE=' + utf8Message.length), s.sink.commands.join(' | '));
  assert.deepEqual(got?.to, ['ünï@dest.test', 'bob@dëst.test']);
  assert.deepEqual(got?.raw, utf8Message);
});

test('SMTPUTF8: to a hop without it, an IDN domain goes as A-label, a UTF-8 local part fails 5.6.7 and is bounced', async (t) => {
  const s = await setup(t, { hide: ['SMTPUTF8'] });
  await s.run({ recipients: ['ünï@dest.test', 'bob@dëst.test'], esmtp: { smtputf8: true, body: '8BITMIME' } }, utf8Message, 2);
  const [delivered, bounce] = s.sink.messages;
  assert.equal(delivered?.mailArgs.SMTPUTF8, undefined, 'no SMTPUTF8 to a hop that does not offer it');
  assert.ok(s.sink.commands.includes('RCPT TO:<bob@xn--dst-jma.test>'), s.sink.commands.join(' | '));
  assert.ok(!s.sink.commands.some((c) => /[^ -~]/.test(c)), 'only ASCII commands');
  assert.deepEqual(delivered?.to, ['bob@dëst.test'], 'smtp-server shows the A-label domain as U-label');
  assert.equal(bounce?.from, '');
  assert.deepEqual(bounce?.to, ['alice@sender.test']);
  const report = bounce?.raw.toString('utf8') ?? '';
  assert.match(report, /Final-Recipient: utf-8; \S+@dest.test/);
  assert.match(report, /Status: 5\.6\.7/);
  assert.doesNotMatch(report, /Final-Recipient: \S+; bob@/);
});

test('SMTPUTF8: a UTF-8 sender local part cannot go to a hop without it: every recipient fails 5.6.7', async (t) => {
  const s = await setup(t, { hide: ['SMTPUTF8'] });
  // The sender is not ASCII: the bounce to it needs SMTPUTF8 too, and fails the same way (no bounce of a bounce).
  const spoolFull = s.spool.accept(envelope({ sender: 'jörg@sender.test', recipients: ['bob@dest.test'], esmtp: { smtputf8: true } }), utf8Message);
  await spoolFull;
  await waitFor(() => s.spool.stats().size === 0, 5000, 'spool empty');
  assert.equal(s.sink.messages.length, 0, 'nothing sent to a hop that cannot take the sender');
  assert.ok(s.lines.some((l) => l.msg === 'delivery attempt' && /needs SMTPUTF8/.test(JSON.stringify(l.results))));
});

test('SMTPUTF8: ASCII envelope with UTF-8 headers is sent with SMTPUTF8 where offered, without it (like Postfix) where not', async (t) => {
  const withIt = await setup(t, {});
  await withIt.run({ esmtp: { smtputf8: true, body: '8BITMIME' } }, utf8Message, 1);
  assert.equal(withIt.sink.messages[0]?.mailArgs.SMTPUTF8, true);
  const without = await setup(t, { hide: ['SMTPUTF8'] });
  await without.run({ esmtp: { smtputf8: true, body: '8BITMIME' } }, utf8Message, 1);
  assert.equal(without.sink.messages[0]?.mailArgs.SMTPUTF8, undefined);
  assert.deepEqual(without.sink.messages[0]?.raw, utf8Message);
});

const eightBitText = 'Grüße aus Köln = 100 % naïve café\r\n'.repeat(3);
const eightBitMessage = Buffer.from(
  `From: alice@sender.test\r\nTo: bob@dest.test\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${eightBitText}`,
  'utf8',
);

test('8BITMIME: an 8-bit body to a hop without 8BITMIME arrives 7-bit quoted-printable and decodes back; the conversion is logged', async (t) => {
  const s = await setup(t, { hide: ['8BITMIME'] });
  await s.run({ esmtp: { body: '8BITMIME' } }, eightBitMessage, 1);
  const raw = s.sink.messages[0]?.raw ?? Buffer.alloc(0);
  assert.equal(s.sink.messages[0]?.mailArgs.BODY, undefined);
  assert.ok(raw.every((byte) => byte < 0x80), 'no 8-bit byte reached the 7-bit hop');
  const text = raw.toString('latin1');
  assert.match(text, /\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/);
  assert.equal(decode(text.slice(text.indexOf('\r\n\r\n') + 4)).toString('utf8'), eightBitText);
  assert.equal(s.lines.filter((l) => /DKIM/.test(String(l.msg))).length, 1, 'one log line says DKIM breaks');
});

test('8BITMIME: to a hop that offers it the body is untouched and BODY=8BITMIME is declared', async (t) => {
  const s = await setup(t, {});
  await s.run({ esmtp: { body: '8BITMIME' } }, eightBitMessage, 1);
  assert.equal(s.sink.messages[0]?.mailArgs.BODY, '8BITMIME');
  assert.deepEqual(s.sink.messages[0]?.raw, eightBitMessage);
});

test('8BITMIME: 8-bit data inside multipart/signed cannot be converted: 5.6.3 and a bounce', async (t) => {
  const s = await setup(t, { hide: ['8BITMIME'] });
  const signed = Buffer.from(
    'From: alice@sender.test\r\nSubject: signed\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary=s; protocol="application/pgp-signature"\r\n\r\n--s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsigné\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n',
    'utf8',
  );
  await s.run({}, signed, 1);
  const bounce = s.sink.messages[0];
  assert.equal(bounce?.from, '');
  assert.match(bounce?.raw.toString('latin1') ?? '', /Status: 5\.6\.3/);
});

const plain = (subject: string) => Buffer.from(`From: alice@sender.test\r\nTo: bob@dest.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@sender.test>\r\n\r\nHello, body text.\r\n`);
const dsnOf = (raw: Buffer | undefined) => raw?.toString('utf8') ?? '';

test('DSN: RET/ENVID and each recipient\'s NOTIFY/ORCPT go to a hop that offers DSN; no "relayed" notice from us', async (t) => {
  const s = await setup(t, { dsn: true });
  const message = plain('dsn-pass');
  await s.run(
    {
      recipients: ['one@dest.test', 'two@dest.test'],
      esmtp: { ret: 'HDRS', envid: 'env id+1' },
      recipientDsn: [{ notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'orig+one@dest.test' } }, null],
    },
    message,
    1,
  );
  const commands = s.sink.commands;
  assert.ok(commands.includes(`MAIL FROM:<alice@sender.test> BODY=8BITMIME SIZE=${message.length} RET=HDRS ENVID=env+20id+2B1`), commands.join(' | '));
  assert.ok(commands.includes('RCPT TO:<one@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bone@dest.test'), commands.join(' | '));
  assert.ok(commands.includes('RCPT TO:<two@dest.test>'), 'no parameters for a recipient that had none');
  const got = s.sink.messages[0];
  assert.equal((got?.dsn as { ret?: string }).ret, 'HDRS');
  assert.deepEqual((got?.rcptDsn[0] as { notify?: string[] }).notify, ['SUCCESS', 'FAILURE']);
});

test('DSN: for a hop without DSN we honour it: NEVER no bounce, FAILURE a bounce with ORCPT/ENVID and headers only (RET=HDRS), SUCCESS a "relayed" DSN', async (t) => {
  const s = await setup(t, {});
  s.sink.rcptReply('never@dest.test', '550 5.1.1 no such user');
  s.sink.rcptReply('fail@dest.test', '550 5.1.1 no such user');
  await s.run(
    {
      recipients: ['never@dest.test', 'fail@dest.test', 'ok@dest.test'],
      esmtp: { ret: 'HDRS', envid: 'ENV-42' },
      recipientDsn: [{ notify: ['NEVER'] }, { notify: ['FAILURE'], orcpt: { type: 'rfc822', address: 'Fail@Dest.test' } }, { notify: ['SUCCESS'] }],
    },
    plain('dsn-honour'),
    3,
  );
  assert.ok(!s.sink.commands.some((c) => /NOTIFY|ORCPT|RET=|ENVID/.test(c)), 'nothing DSN-ish to a hop that does not offer it');
  const [original, ...notices] = s.sink.messages;
  assert.deepEqual(original?.to, ['ok@dest.test']);
  for (const notice of notices) {
    assert.equal(notice.from, '');
    assert.deepEqual(notice.to, ['alice@sender.test']);
  }
  const failure = notices.map((n) => dsnOf(n.raw)).find((text) => /Action: failed/.test(text)) ?? '';
  const relayed = notices.map((n) => dsnOf(n.raw)).find((text) => /Action: relayed/.test(text)) ?? '';
  assert.match(failure, /^Original-Envelope-Id: ENV-42\r$/m);
  assert.match(failure, /^Original-Recipient: rfc822; Fail@Dest\.test\r\nFinal-Recipient: rfc822; fail@dest\.test\r$/m);
  assert.doesNotMatch(failure, /never@dest\.test/, 'NOTIFY=NEVER: no notice for that recipient');
  assert.match(failure, /Content-Type: text\/rfc822-headers\r\n\r\n[\s\S]*Subject: dsn-honour/);
  assert.doesNotMatch(failure, /Hello, body text/, 'RET=HDRS: headers only');
  assert.match(relayed, /^Subject: Successful Mail Delivery Report\r$/m);
  assert.match(relayed, /^Final-Recipient: rfc822; ok@dest\.test\r\nAction: relayed\r\nStatus: 2\.\d\.\d\r$/m);
  assert.match(relayed, /^Original-Envelope-Id: ENV-42\r$/m);
  assert.ok(s.lines.some((l) => /no failure notice/.test(String(l.msg))), 'the silenced bounce is logged');
});

test('DSN: RET=FULL returns the whole message as message/rfc822', async (t) => {
  const s = await setup(t, {});
  s.sink.rcptReply('fail@dest.test', '550 5.1.1 no such user');
  await s.run({ recipients: ['fail@dest.test'], esmtp: { ret: 'FULL' } }, plain('dsn-full'), 1);
  const text = dsnOf(s.sink.messages[0]?.raw);
  assert.match(text, /Content-Type: message\/rfc822\r\n\r\nFrom: alice@sender\.test\r\n[\s\S]*\r\n\r\nHello, body text\.\r\n\r\n--/);
});
