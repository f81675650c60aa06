// Table tests of the pure parts of issue 21's delivery side: what a
// transaction may say to a hop (esmtp-plan.ts), which notices a recipient
// asked for (planOutcome with NOTIFY), and what our DSNs say (dsn.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asciiAddress, hopExtensions, mailParameters, planAddresses, rcptDsnParameters, utf8AddrXtext, xtext } from '../../src/delivery/esmtp-plan.ts';
import { planOutcome } from '../../src/delivery/message-outcome.ts';
import { REQUESTED_DELAY_WARNING } from '../../src/delivery/dsn-notify.ts';
import { buildDsn, type DsnInput } from '../../src/delivery/dsn.ts';
import { initialState } from '../../src/spool/state-journal.ts';
import type { StoredEnvelope } from '../../src/spool/spool-file.ts';
import { outcomeOfReply, type RecipientResult } from '../../src/delivery/smtp-reply.ts';

const M = 60_000;
const all = hopExtensions(['PIPELINING', 'SMTPUTF8', '8BITMIME', 'DSN']);
const bare = hopExtensions(['PIPELINING']);

test('hopExtensions reads the keywords that matter', () => {
  assert.deepEqual(all, { smtputf8: true, eightBitMime: true, dsn: true });
  assert.deepEqual(bare, { smtputf8: false, eightBitMime: false, dsn: false });
});

test('asciiAddress: ASCII as is, IDN domains as A-labels, UTF-8 local parts impossible', () => {
  const table: Array<[string, string | undefined]> = [
    ['bob@dest.test', 'bob@dest.test'],
    ['bob@dëst.test', 'bob@xn--dst-jma.test'],
    ['bob@BÜCHER.example', 'bob@xn--bcher-kva.example'],
    ['ünï@dest.test', undefined],
    ['jörg@dëst.test', undefined],
  ];
  for (const [address, want] of table) assert.equal(asciiAddress(address), want, address);
});

test('planAddresses: SMTPUTF8 when needed and offered; otherwise ASCII forms or 5.6.7', () => {
  const utf8 = planAddresses('a@s.test', ['ü@d.test', 'b@dë.test'], undefined, all);
  assert.equal(utf8.smtputf8, true);
  assert.deepEqual([...utf8.recipients.values()], ['ü@d.test', 'b@dë.test']);
  const declared = planAddresses('a@s.test', ['b@d.test'], { smtputf8: true }, all);
  assert.equal(declared.smtputf8, true, 'declared by the client: passed on');
  assert.equal(planAddresses('a@s.test', ['b@d.test'], undefined, all).smtputf8, false);
  const down = planAddresses('a@s.test', ['ü@d.test', 'b@dë.test'], { smtputf8: true }, bare);
  assert.equal(down.smtputf8, false);
  assert.deepEqual([...down.recipients], [['b@dë.test', 'b@xn--d-fga.test']]);
  assert.deepEqual(down.refused, ['ü@d.test']);
  const sender = planAddresses('jörg@s.test', ['b@d.test'], undefined, bare);
  assert.equal(sender.sender, undefined);
  assert.deepEqual(sender.refused, ['b@d.test']);
});

test('xtext and utf-8-addr-xtext encodings', () => {
  assert.equal(xtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(xtext('é'), '+C3+A9');
  assert.equal(utf8AddrXtext('ü+x@d.test'), '\\x{FC}\\x{2B}x@d.test');
  assert.equal(rcptDsnParameters(null), '');
  assert.equal(rcptDsnParameters({ notify: ['NEVER'] }), ' NOTIFY=NEVER');
  assert.equal(rcptDsnParameters({ notify: ['SUCCESS', 'DELAY'], orcpt: { type: 'rfc822', address: 'a+b@d.test' } }), ' NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bb@d.test');
  assert.equal(rcptDsnParameters({ orcpt: { type: 'utf-8', address: 'ü@d.test' } }), ' ORCPT=utf-8;\\x{FC}@d.test');
  assert.deepEqual(mailParameters({ ret: 'HDRS', envid: 'x y' }, { smtputf8: true }, all), ['SMTPUTF8', 'RET=HDRS', 'ENVID=x+20y']);
  assert.deepEqual(mailParameters({ ret: 'HDRS', envid: 'x y' }, { smtputf8: false }, bare), [], 'no DSN parameters to a hop without DSN');
});

const env: StoredEnvelope = {
  id: 'X',
  sender: 'a@s.test',
  recipients: ['never@d.test', 'fail@d.test', 'succ@d.test', 'delay@d.test', 'plain@d.test'],
  clientIp: '192.0.2.1',
  helo: 'h',
  listener: 'mx',
  receivedAt: 0,
  recipientDsn: [{ notify: ['NEVER'] }, { notify: ['FAILURE'] }, { notify: ['SUCCESS'] }, { notify: ['DELAY'] }, null],
};
const reply = (r: string, text: string, extra: Partial<RecipientResult> = {}): RecipientResult => ({ ...outcomeOfReply(r, text), ...extra });

test('planOutcome honours NOTIFY: failure notices, "relayed" notices, delay warnings', () => {
  const base = { envelope: env, state: initialState(env), now: 10 * M, schedule: [M], lifetime: 24 * 60 * M * 5, delayWarning: 0 };
  const failedAll = planOutcome({ ...base, results: env.recipients.map((r) => reply(r, '550 5.1.1 no')) });
  assert.equal(failedAll.failed.length, 5);
  assert.deepEqual(failedAll.bounce.map((r) => r.recipient), ['fail@d.test', 'plain@d.test'], 'no NOTIFY = FAILURE; NEVER/SUCCESS/DELAY only = no failure notice');

  const deliveredAll = planOutcome({ ...base, results: env.recipients.map((r) => reply(r, '250 ok')) });
  assert.deepEqual(deliveredAll.relayed.map((r) => r.recipient), ['succ@d.test']);
  const passed = planOutcome({ ...base, results: env.recipients.map((r) => reply(r, '250 ok', { dsnPassed: true })) });
  assert.deepEqual(passed.relayed, [], 'the DSN hop took NOTIFY=SUCCESS over');

  const deferred = env.recipients.map((r) => reply(r, '451 4.3.0 later'));
  assert.deepEqual(planOutcome({ ...base, results: deferred }).warn, [], 'too early');
  const due = planOutcome({ ...base, now: REQUESTED_DELAY_WARNING, results: deferred });
  assert.deepEqual(due.warn.map((r) => r.recipient), ['delay@d.test'], 'delay_warning off: only who asked for DELAY');
  const configured = planOutcome({ ...base, now: 30 * M, delayWarning: 20 * M, results: deferred });
  assert.deepEqual(configured.warn.map((r) => r.recipient), ['delay@d.test', 'plain@d.test'], 'delay_warning on: also who did not say');
});

const dsnInput = (overrides: Partial<DsnInput>): DsnInput => ({
  kind: 'failed',
  hostname: 'relay.test',
  queueId: 'Q1',
  dsnId: 'D1',
  originalSender: 'a@s.test',
  arrivalDate: 0,
  now: 0,
  recipients: [outcomeOfReply('b@d.test', '550 5.1.1 no', 'mx.d.test[192.0.2.9]:25')],
  originalHeaders: Buffer.from('Subject: hi\r\n\r\n'),
  ...overrides,
});

test('buildDsn: MIME labels say what the parts hold', () => {
  const ascii = buildDsn(dsnInput({})).toString('latin1');
  assert.match(ascii, /boundary="D1\/relay\.test"\r\nContent-Transfer-Encoding: 7bit\r\n/);
  const eight = buildDsn(dsnInput({ originalHeaders: Buffer.from('Subject: Grüße\r\n\r\n', 'utf8') })).toString('latin1');
  assert.match(eight, /boundary="D1\/relay\.test"\r\nContent-Transfer-Encoding: 8bit\r\n/, 'outer label 8bit over an 8bit part');
  assert.match(eight, /Content-Type: text\/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n/);
});

test('buildDsn: ENVID, ORCPT, UTF-8 addresses, RET=FULL and relayed notices', () => {
  const text = buildDsn(
    dsnInput({
      envelopeId: 'ENV-1',
      recipients: [outcomeOfReply('ü@d.test', '550 5.1.1 no')],
      originalRecipients: new Map([['ü@d.test', { type: 'rfc822', address: 'Orig@d.test' }]]),
      originalMessage: Buffer.from('Subject: hi\r\n\r\nbody\r\n'),
    }),
  ).toString('latin1');
  assert.match(text, /\r\n\r\nOriginal-Envelope-Id: ENV-1\r\nReporting-MTA: dns; relay\.test\r\n/);
  assert.match(text, /\r\nOriginal-Recipient: rfc822; Orig@d\.test\r\nFinal-Recipient: utf-8; \\x\{FC\}@d\.test\r\nAction: failed\r\n/);
  assert.match(text, /Content-Type: message\/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n\r\n--D1\/relay\.test--\r\n$/);
  const relayed = buildDsn(dsnInput({ kind: 'relayed', recipients: [outcomeOfReply('b@d.test', '250 2.0.0 ok', 'h[192.0.2.9]:25')], originalMessage: Buffer.from('x') })).toString('latin1');
  assert.match(relayed, /Subject: Successful Mail Delivery Report/);
  assert.match(relayed, /Action: relayed\r\nStatus: 2\.0\.0\r\n/);
  assert.match(relayed, /Content-Type: text\/rfc822-headers/, 'RET=FULL applies to failures only');
  const big = buildDsn(dsnInput({ tooLargeToReturn: 5_000_000 })).toString('latin1');
  assert.match(big, /too large to return in full/);
});
