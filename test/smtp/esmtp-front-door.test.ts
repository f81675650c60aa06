// Issue 21, the front door half, over real sockets against the whole relay
// (real driver, real spool): every extension is advertised exactly where the
// table (src/smtp/extensions.ts) offers it, its parameters are accepted when
// declared and stored in the spool envelope (read back from disk), refused
// with 555 5.5.4 where it is not offered and 501 5.5.4 when malformed; UTF-8
// mailboxes need SMTPUTF8 (553 5.6.7), bytes that are not UTF-8 are refused
// (500 5.5.2), never rewritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { HARNESS_LISTENERS, startHarness, type RelayHarness } from '../helpers/relay-harness.ts';
import { codeOf, openSession } from '../helpers/e2e-relay-client.ts';
import type { SmtpTalk, SmtpReply } from '../helpers/smtp-talk.ts';
import { offeredExtensions } from '../../src/smtp/extensions.ts';
import type { Envelope } from '../../src/spool/types.ts';

const OUTSIDE = '127.0.0.3';
const POLICIES = { 'local-domains': 'example.test\nbücher.example\n', 'relay-networks': '127.0.0.1\n' };

/** A loopback port nothing listens on: the queued messages stay in the spool to be read back. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function start(t: { after: (fn: () => Promise<void>) => void }): Promise<RelayHarness> {
  const port = await deadPort();
  const config = `${HARNESS_LISTENERS}
[smtp]
max_errors = 10000
tarpit_after_errors = 10000

[delivery]
mode = "smarthost"
retry_schedule = ["1h"]

[delivery.smarthost]
hosts = ["127.0.0.1:${port}"]
tls = "none"
`;
  const harness = await startHarness({ deliveryWorker: false, config, policies: POLICIES });
  t.after(() => harness.stop());
  return harness;
}

const keywords = (ehlo: SmtpReply): string[] => ehlo.lines.slice(1).map((l) => (l.slice(4).split(' ')[0] ?? '').toUpperCase()).sort();

/** The spooled envelope of a queued message, read back from disk; `protocol`: the Received: header's "with" keyword. */
async function envelopeOf(harness: RelayHarness, queued: SmtpReply | undefined, protocol?: string): Promise<Envelope> {
  const id = /queued as (\S+)/.exec(queued?.text ?? '')?.[1];
  assert.ok(id, `queued: ${queued?.lines.join(' | ')}`);
  const loaded = await harness.relay.spool.load(id);
  assert.ok(loaded, `message ${id} is in the spool`);
  if (protocol !== undefined) {
    const body = loaded.body ?? (await readFile(loaded.file)).subarray(loaded.bodyOffset);
    assert.match(body.toString('utf8'), new RegExp(`^Received: [^]*?\\bwith ${protocol} id ${id}`), 'our Received: header');
  }
  return loaded.envelope;
}

async function data(talk: SmtpTalk, subject: string): Promise<SmtpReply> {
  assert.equal((await talk.command('DATA')).code, 354);
  return talk.command(`Subject: ${subject}\r\n\r\nbody\r\n.`);
}

test('EHLO advertises exactly the table: SMTPUTF8 and DSN, STARTTLS before TLS only, AUTH after TLS on submission only, REQUIRETLS after TLS only, never CHUNKING', async (t) => {
  const harness = await start(t);
  const mx = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => mx.close());
  const plain = await mx.command('EHLO client.test');
  assert.deepEqual(keywords(plain), [...offeredExtensions({ starttlsListener: true, tls: false, authOffered: false })].sort());
  assert.deepEqual(keywords(plain), ['8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'SIZE', 'SMTPUTF8', 'STARTTLS']);
  assert.equal((await mx.starttls()).code, 220);
  const mxTls = await mx.command('EHLO client.test');
  assert.deepEqual(keywords(mxTls), ['8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'REQUIRETLS', 'SIZE', 'SMTPUTF8']);

  const sub = await openSession({ port: harness.port('submission') });
  t.after(() => sub.close());
  assert.deepEqual(keywords(await sub.command('EHLO client.test')), ['8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'SIZE', 'SMTPUTF8', 'STARTTLS']);
  assert.equal((await sub.starttls()).code, 220);
  const subTls = await sub.command('EHLO client.test');
  assert.deepEqual(keywords(subTls), ['8BITMIME', 'AUTH', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'REQUIRETLS', 'SIZE', 'SMTPUTF8']);
  assert.ok(subTls.lines.some((l) => l.slice(4) === 'AUTH PLAIN LOGIN'));
});

test('parameters not offered get 555 5.5.4, malformed ones 501 5.5.4, each a published Decision; the transaction goes on', async (t) => {
  const harness = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  const mailCases: Array<[string, string]> = [
    ['<> FOO=bar', '555 5.5.4'],
    ['<a@outside.test> XYZ', '555 5.5.4'],
    ['<a@outside.test> REQUIRETLS', '555 5.5.4'],
    ['<a@outside.test> BODY=BINARYMIME', '555 5.5.4'],
    ['<a@outside.test> AUTH=<>', '555 5.5.4'],
    ['<a@outside.test> NOTIFY=NEVER', '555 5.5.4'],
    ['<a@outside.test> SIZE=abc', '501 5.5.4'],
    ['<a@outside.test> BODY=9BIT', '501 5.5.4'],
    ['<a@outside.test> RET=FULL RET=HDRS', '501 5.5.4'],
    ['<a@outside.test> RET=ALL', '501 5.5.4'],
    ['<a@outside.test> ENVID=', '501 5.5.4'],
    ['<a@outside.test> ENVID=a+ZZ', '501 5.5.4'],
    ['<a@outside.test> ENVID=a+0D+0Ab', '501 5.5.4'],
    [`<a@outside.test> ENVID=${'e'.repeat(101)}`, '501 5.5.4'],
    ['<a@outside.test> SMTPUTF8=yes', '501 5.5.4'],
  ];
  for (const [args, expected] of mailCases) {
    const reply = await talk.command(`MAIL FROM:${args}`);
    assert.equal(codeOf(reply), expected, `MAIL FROM:${args} got ${reply.lines.join(' | ')}`);
  }
  assert.match((await talk.command('MAIL FROM:<> FOO=bar')).text, /Unsupported option: FOO/);
  assert.equal((await talk.command('MAIL FROM:<a@outside.test> SIZE=10 BODY=7BIT')).code, 250);
  const rcptCases: Array<[string, string]> = [
    ['<a@example.test> FOO=bar', '555 5.5.4'],
    ['<a@example.test> RET=FULL', '555 5.5.4'],
    ['<a@example.test> NOTIFY=', '501 5.5.4'],
    ['<a@example.test> NOTIFY=NEVER,SUCCESS', '501 5.5.4'],
    ['<a@example.test> NOTIFY=SUCCESS,SUCCESS', '501 5.5.4'],
    ['<a@example.test> NOTIFY=NEVER NOTIFY=NEVER', '501 5.5.4'],
    ['<a@example.test> ORCPT=', '501 5.5.4'],
    ['<a@example.test> ORCPT=a@example.test', '501 5.5.4'],
    ['<a@example.test> ORCPT=rfc822;a+ZZ', '501 5.5.4'],
  ];
  for (const [args, expected] of rcptCases) {
    const reply = await talk.command(`RCPT TO:${args}`);
    assert.equal(codeOf(reply), expected, `RCPT TO:${args} got ${reply.lines.join(' | ')}`);
  }
  // A nested MAIL and a RCPT before MAIL keep their 503, whatever the parameters.
  assert.equal((await talk.command('MAIL FROM:<b@outside.test> FOO=bar')).code, 503);
  assert.equal((await talk.command('RSET')).code, 250);
  assert.equal((await talk.command('RCPT TO:<a@example.test> FOO=bar')).code, 503);
  const refusals = harness.logs.filter((l) => l.msg === 'decision' && l.rule === 'esmtp-parameters');
  assert.equal(refusals.length, mailCases.length + 1 + rcptCases.length);
  assert.deepEqual(new Set(refusals.map((l) => l.reason)), new Set(['param.not_offered', 'param.malformed']));
});

test('REQUIRETLS (RFC 8689): refused in clear as unadvertised (555 5.5.4), accepted after STARTTLS and stored in the spool envelope', async (t) => {
  const harness = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  assert.equal(codeOf(await talk.command('MAIL FROM:<a@outside.test> REQUIRETLS')), '555 5.5.4');
  assert.equal((await talk.starttls()).code, 220);
  assert.equal((await talk.command('EHLO client.test')).code, 250);
  assert.equal(codeOf(await talk.command('MAIL FROM:<a@outside.test> REQUIRETLS=yes')), '501 5.5.4');
  assert.equal((await talk.command('MAIL FROM:<a@outside.test> REQUIRETLS BODY=8BITMIME')).code, 250);
  assert.equal((await talk.command('RCPT TO:<a@example.test>')).code, 250);
  const envelope = await envelopeOf(harness, await data(talk, 'requiretls'));
  assert.deepEqual(envelope.esmtp, { requiretls: true, body: '8BITMIME' });
  // Only that transaction: the next one on the same session carries nothing.
  assert.equal((await talk.command('MAIL FROM:<a@outside.test>')).code, 250);
  assert.equal((await talk.command('RCPT TO:<b@example.test>')).code, 250);
  assert.equal((await envelopeOf(harness, await data(talk, 'plain'))).esmtp, undefined);
});

test('declared parameters are stored in the spool envelope: BODY, SMTPUTF8, RET, ENVID; NOTIFY and ORCPT parallel to the recipients a refused RCPT leaves out', async (t) => {
  const harness = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  assert.equal((await talk.command('MAIL FROM:<sender@outside.test> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2Bid+3D1')).code, 250);
  const rcpts: Array<[string, number]> = [
    ['<a@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A+2Bx@example.test', 250],
    ['<victim@foreign.test> NOTIFY=NEVER', 554],
    ['<b@example.test>', 250],
    ['<jürgen@bücher.example> NOTIFY=never ORCPT=utf-8;jürgen@bücher.example', 250],
    ['<a@example.test> NOTIFY=DELAY', 250],
  ];
  for (const [rcpt, code] of rcpts) assert.equal((await talk.command(`RCPT TO:${rcpt}`)).code, code, rcpt);
  const envelope = await envelopeOf(harness, await data(talk, 'with parameters'), 'UTF8SMTP');
  assert.deepEqual(envelope.recipients, ['a@example.test', 'b@example.test', 'jürgen@xn--bcher-kva.example']);
  assert.deepEqual(envelope.esmtp, { body: '8BITMIME', smtputf8: true, ret: 'HDRS', envid: 'QQ+id=1' });
  assert.deepEqual(envelope.recipientDsn, [
    { notify: ['SUCCESS', 'FAILURE'], orcpt: { type: 'rfc822', address: 'A+x@example.test' } },
    null,
    { notify: ['NEVER'], orcpt: { type: 'utf-8', address: 'jürgen@bücher.example' } },
  ]);

  // The next transaction on the same session starts clean.
  assert.equal((await talk.command('MAIL FROM:<sender@outside.test>')).code, 250);
  assert.equal((await talk.command('RCPT TO:<c@example.test>')).code, 250);
  const plain = await envelopeOf(harness, await data(talk, 'no parameters'), 'ESMTP');
  assert.equal(plain.esmtp, undefined);
  assert.equal(plain.recipientDsn, undefined);
});

test('SMTPUTF8: a UTF-8 mailbox needs the declaration (553 5.6.7), not-NFC is refused, bytes that are not UTF-8 get 500 5.5.2 and are never rewritten', async (t) => {
  const harness = await start(t);
  const talk = await openSession({ port: harness.port('mx'), from: OUTSIDE });
  t.after(() => talk.close());
  // Undeclared: sender and recipient, local part or U-label domain.
  assert.equal(codeOf(await talk.command('MAIL FROM:<jürgen@outside.test>')), '553 5.6.7');
  assert.equal(codeOf(await talk.command('MAIL FROM:<a@bücher.test>')), '553 5.6.7');
  assert.equal((await talk.command('MAIL FROM:<a@outside.test>')).code, 250);
  assert.equal(codeOf(await talk.command('RCPT TO:<jürgen@example.test>')), '553 5.6.7');
  assert.equal(codeOf(await talk.command('RCPT TO:<a@bücher.example>')), '553 5.6.7');
  // A-labels are ASCII: no declaration needed.
  assert.equal((await talk.command('RCPT TO:<a@xn--bcher-kva.example>')).code, 250);
  // An 0xFF byte: refused, not read as U+FFFD.
  talk.write(Buffer.concat([Buffer.from('RCPT TO:<j'), Buffer.from([0xff]), Buffer.from('rgen@example.test>\r\n')]));
  assert.equal(codeOf((await talk.read()) as SmtpReply), '500 5.5.2');
  talk.write(Buffer.concat([Buffer.from('MAIL FROM:<a@outside.test> ENVID=x'), Buffer.from([0xc3]), Buffer.from('\r\n')]));
  assert.equal(codeOf((await talk.read()) as SmtpReply), '500 5.5.2');
  assert.equal((await talk.command('RSET')).code, 250);

  // Declared: accepted; the local part is kept as spelt, the domain as its A-label.
  assert.equal((await talk.command('MAIL FROM:<jürgen@bücher.test> SMTPUTF8')).code, 250);
  assert.equal((await talk.command('RCPT TO:<jürgen@example.test>')).code, 250);
  assert.equal((await talk.command('RCPT TO:<Ωmega@BÜCHER.example>')).code, 250);
  // u + combining diaeresis: the NFD spelling of ü.
  assert.equal(codeOf(await talk.command('RCPT TO:<ju\u0308rgen@example.test>')), '553 5.6.7');
  // Still no relaying for any UTF-8 spelling of a foreign domain.
  assert.equal(codeOf(await talk.command('RCPT TO:<a@bücher.test>')), '554 5.7.1');
  const envelope = await envelopeOf(harness, await data(talk, 'utf-8'), 'UTF8SMTP');
  assert.equal(envelope.sender, 'jürgen@xn--bcher-kva.test');
  assert.deepEqual(envelope.recipients, ['jürgen@example.test', 'Ωmega@xn--bcher-kva.example']);
  assert.deepEqual(envelope.esmtp, { smtputf8: true });
  const refused = harness.logs.filter((l) => l.msg === 'decision' && typeof l.reason === 'string' && l.reason.includes('utf8'));
  assert.deepEqual([...new Set(refused.map((l) => l.reason))].sort(), ['mail.utf8_undeclared', 'rcpt.utf8_not_nfc', 'rcpt.utf8_undeclared']);
});
