// SMTPUTF8 in the pure policy (issue 21): which mailboxes are UTF-8, the
// declaration read by prepareMail (from the command or, for explain, the
// parameters after the path), the 553 5.6.7 refusals, and NFC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareMail, prepareRcpt } from '../../src/policy/engine.ts';
import { undeclaredUtf8 } from '../../src/policy/address-refusal.ts';
import { testConfig, testSnapshot } from '../helpers/policy-snapshot.ts';
import { testSession } from '../helpers/policy-session.ts';

const snapshot = testSnapshot({ config: testConfig('') });
const ctx = testSession({ ip: '198.51.100.7' });

test('a mailbox is UTF-8 when its local part or its domain as written is not ASCII; the stored domain is the A-label', () => {
  const cases: Array<[string, boolean, string]> = [
    ['<a@example.test>', false, 'a@example.test'],
    ['<a@xn--bcher-kva.example>', false, 'a@xn--bcher-kva.example'],
    ['<a@Bücher.example>', true, 'a@xn--bcher-kva.example'],
    ['<jürgen@example.test>', true, 'jürgen@example.test'],
    ['<"jürgen x"@example.test>', true, '"jürgen x"@example.test'],
  ];
  for (const [path, utf8, address] of cases) {
    const mail = prepareMail(ctx, snapshot, { address: path, smtputf8: true });
    assert.ok(mail.ok, path);
    if (!mail.ok || mail.ctx.sender.kind !== 'mailbox') continue;
    assert.equal(mail.ctx.sender.utf8 === true, utf8, path);
    assert.equal(mail.ctx.sender.address, address, path);
  }
});

test('the declaration: from the command, or SMTPUTF8 after the path (explain); undeclared UTF-8 is 553 5.6.7 at MAIL and RCPT', () => {
  const declared = prepareMail(ctx, snapshot, { address: '<jürgen@example.test>', smtputf8: true });
  const inText = prepareMail(ctx, snapshot, { address: '<jürgen@example.test> SMTPUTF8' });
  const undeclared = prepareMail(ctx, snapshot, { address: '<jürgen@example.test>' });
  assert.ok(declared.ok && inText.ok && undeclared.ok);
  if (!declared.ok || !inText.ok || !undeclared.ok) return;
  assert.equal(declared.ctx.smtputf8, true);
  assert.equal(inText.ctx.smtputf8, true);
  assert.equal(undeclared.ctx.smtputf8, false);
  const sender = undeclared.ctx.sender;
  assert.equal(sender.kind, 'mailbox');
  if (sender.kind !== 'mailbox') return;
  const refusal = undeclaredUtf8('mail', sender, undeclared.ctx.smtputf8);
  assert.deepEqual([refusal?.verdict, refusal?.reason, refusal?.reply?.code, refusal?.reply?.enhanced], ['reject', 'mail.utf8_undeclared', 553, '5.6.7']);
  assert.equal(undeclaredUtf8('mail', sender, true), undefined);
  const rcpt = prepareRcpt({ ...undeclared.ctx, recipients: [] }, snapshot, { address: '<a@bücher.example>' });
  assert.ok(rcpt.ok);
  if (!rcpt.ok) return;
  assert.equal(undeclaredUtf8('rcpt', rcpt.ctx.recipient, false)?.reason, 'rcpt.utf8_undeclared');
  assert.equal(undeclaredUtf8('rcpt', { address: 'a@example.test' } as never, false), undefined);
});

test('a mailbox not in NFC is refused with 553 5.6.7, sender or recipient, declared or not', () => {
  const nfd = '<ju\u0308rgen@example.test>';
  const mail = prepareMail(ctx, snapshot, { address: nfd, smtputf8: true });
  assert.equal(mail.ok, false);
  if (!mail.ok) assert.deepEqual([mail.decision.reason, mail.decision.reply?.code, mail.decision.reply?.enhanced], ['mail.utf8_not_nfc', 553, '5.6.7']);
  const sender = prepareMail(ctx, snapshot, { address: '<s@example.test>', smtputf8: true });
  assert.ok(sender.ok);
  if (!sender.ok) return;
  const rcpt = prepareRcpt({ ...sender.ctx, recipients: [] }, snapshot, { address: 'a@bu\u0308cher.example' });
  assert.equal(rcpt.ok, false);
  if (!rcpt.ok) assert.equal(rcpt.decision.reason, 'rcpt.utf8_not_nfc');
});
