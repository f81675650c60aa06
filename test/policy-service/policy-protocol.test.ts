// The policy protocol reader (pure): requests split however the bytes
// arrive, and what closes a connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttributeReader, type ReadResult } from '../../src/policy-service/attribute-reader.ts';
import { answerFor, prependAnswer } from '../../src/policy-service/policy-answer.ts';
import { startsNewSession } from '../../src/policy-service/policy-sessions.ts';
import { defer, dunno, permit, reject } from '../../src/policy/decision.ts';
import { replyFor } from '../../src/policy/replies.ts';

const plain = (result: ReadResult): Array<Record<string, string>> => result.requests.map((r) => Object.fromEntries(r));

test('requests come out whole whatever the chunking: byte by byte, several in one chunk, CRLF, stray empty lines', () => {
  const text = '\nrequest=smtpd_access_policy\nrecipient=a@b\n\n\r\nrequest=smtpd_access_policy\r\nsender=\r\nx=1=2\r\n\r\n';
  const whole = new AttributeReader().feed(Buffer.from(text));
  assert.deepEqual(plain(whole), [
    { request: 'smtpd_access_policy', recipient: 'a@b' },
    { request: 'smtpd_access_policy', sender: '', x: '1=2' },
  ]);
  const reader = new AttributeReader();
  const requests: Array<Record<string, string>> = [];
  for (const byte of Buffer.from(text)) {
    const result = reader.feed(Buffer.from([byte]));
    assert.equal(result.problem, undefined);
    requests.push(...plain(result));
  }
  assert.deepEqual(requests, plain(whole));
});

test('a repeated name keeps its first value; UTF-8 values survive a split inside a character', () => {
  const reader = new AttributeReader();
  const bytes = Buffer.from('helo_name=first\nhelo_name=second\nsender=jörg@example.test\n\n');
  const cut = bytes.indexOf(0xc3) + 1;
  assert.deepEqual(plain(reader.feed(bytes.subarray(0, cut))), []);
  assert.deepEqual(plain(reader.feed(bytes.subarray(cut))), [{ helo_name: 'first', sender: 'jörg@example.test' }]);
});

test('what closes the connection: garbage, NUL, a line over the limit (even before its LF), too many attributes', () => {
  const limits = { maxLineBytes: 64, maxAttributes: 3 };
  const cases: Array<[string, Buffer, string]> = [
    ['no "="', Buffer.from('request=smtpd_access_policy\nHELLO\n'), 'not_an_attribute'],
    ['empty name', Buffer.from('=value\n'), 'not_an_attribute'],
    ['NUL', Buffer.from('a=b\0c\n'), 'nul_byte'],
    ['long line', Buffer.from(`a=${'x'.repeat(63)}\n`), 'line_too_long'],
    ['long partial line', Buffer.from(`a=${'x'.repeat(100)}`), 'line_too_long'],
    ['too many', Buffer.from('a=1\nb=2\nc=3\nd=4\n'), 'too_many_attributes'],
  ];
  for (const [name, bytes, problem] of cases) {
    const reader = new AttributeReader(limits);
    assert.equal(reader.feed(bytes).problem, problem, name);
    assert.equal(reader.feed(Buffer.from('a=b\n\n')).problem, 'not_an_attribute', `${name}: nothing is read after`);
  }
  // The requests completed before the garbage are still handed out.
  const result = new AttributeReader(limits).feed(Buffer.from('a=1\n\nGET / HTTP/1.1\n'));
  assert.deepEqual(plain(result), [{ a: '1' }]);
  assert.equal(result.problem, 'not_an_attribute');
});

test('answers: the front door\'s reply for refusals, OK only for a client-trust relay permit, DUNNO otherwise', () => {
  const options = { okForTrusted: true };
  const relayDenied = reject('rcpt', 'relay-networks', 'relay.denied', replyFor('relay.denied', 'v@x.test'));
  assert.deepEqual(answerFor(relayDenied, options), { kind: 'reject', action: '554 5.7.1 <v@x.test>: Relay access denied' });
  assert.deepEqual(answerFor(defer('mail', 'rate-limits', 'mail.rate', replyFor('mail.rate')), options), { kind: 'defer', action: '450 4.7.1 Rate limit exceeded, try again later' });
  assert.equal(answerFor(permit('rcpt', 'relay-networks', 'relay.trusted_network'), options).action, 'OK');
  assert.equal(answerFor(permit('rcpt', 'authenticated', 'relay.authenticated'), options).action, 'OK');
  assert.equal(answerFor(permit('rcpt', 'authenticated', 'relay.authenticated'), { okForTrusted: false }).action, 'DUNNO');
  assert.equal(answerFor(permit('rcpt', 'local-domains', 'rcpt.local_domain'), options).action, 'DUNNO');
  assert.equal(answerFor(permit('mail', 'default', 'ok'), options).action, 'DUNNO');
  assert.equal(answerFor(dunno('connect', 'denylist'), options).action, 'DUNNO');
  // A reply text never carries a line break into the protocol.
  const odd = reject('rcpt', 'dnsbl', 'dnsbl.listed', { code: 554, enhanced: '5.7.1', text: 'a\r\nb' });
  assert.equal(answerFor(odd, options).action, '554 5.7.1 a b');
  assert.equal(prependAnswer('X-Relayguard', permit('rcpt', 'local-domains', 'rcpt.local_domain'), 'relay.test').action, 'PREPEND X-Relayguard: pass (relay.test; rule=local-domains; reason=rcpt.local_domain)');
});

test('a request on a held client port names a new SMTP session by its instance (pid.sec.usec.seqno, seqno from 0 per session)', () => {
  const held = '1f40.6f2e1d00.1a2b3.1';
  const table: ReadonlyArray<readonly [string | undefined, string, boolean, string]> = [
    [held, held, false, 'the same transaction'],
    [held, '1f40.6f2e1d05.2.2', false, 'the next transaction of the same session'],
    [held, '1f40.6f2e1d05.2.0', true, 'seqno back to 0: the same smtpd process, a new session'],
    [held, '1f40.6f2e1d05.2.1', true, 'seqno not higher, another instance: a new session'],
    [held, '2a.6f2e1d05.2.5', true, 'another smtpd process'],
    [held, '', true, 'no instance yet (before MAIL) after one was seen'],
    [undefined, '1f40.6f2e1d05.2.0', false, 'nothing seen yet'],
    ['i1', 'i2', false, 'not Postfix\'s form: never ends a session'],
    [held, 'i2', false, 'not Postfix\'s form now'],
  ];
  for (const [last, instance, expected, why] of table) assert.equal(startsNewSession(last, instance), expected, why);
});
