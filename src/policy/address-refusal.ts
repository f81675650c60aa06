// PURE. Turns an address refusal into the Decision the client sees. Every
// refusal is permanent (5xx): a 4xx would make a relay tester's client retry
// the trick forever. Syntax gets 553 5.1.3 for recipients (RFC 3463 "bad
// destination mailbox address syntax") and 553 5.1.7 for senders ("bad
// sender's mailbox address syntax"); a routing trick on a recipient gets
// 550 5.7.1 (delivery not authorised), the class Postfix uses for relay refusals.
// The reply never echoes the refused text: it may carry anything.
import { reject, type Decision } from './decision.ts';
import { replyFor } from './replies.ts';
import type { AddressProblem, AddressRefusal } from './address.ts';

export const ADDRESS_RULE = 'strict-address';

const RECIPIENT_TRICKS: Partial<Record<AddressProblem, 'rcpt.source_route' | 'rcpt.multiple_at' | 'rcpt.quoted_route' | 'rcpt.percent_hack' | 'rcpt.bang_path' | 'rcpt.address_literal'>> = {
  source_route: 'rcpt.source_route',
  multiple_at: 'rcpt.multiple_at',
  quoted_route: 'rcpt.quoted_route',
  percent_hack: 'rcpt.percent_hack',
  bang_path: 'rcpt.bang_path',
  literal_not_ours: 'rcpt.address_literal',
};

function detail(refusal: AddressRefusal): Record<string, string> {
  return { problem: refusal.problem, message: refusal.message };
}

export function recipientRefusal(refusal: AddressRefusal): Decision {
  if (refusal.problem === 'not_nfc') return reject('rcpt', ADDRESS_RULE, 'rcpt.utf8_not_nfc', replyFor('rcpt.utf8_not_nfc'), detail(refusal));
  const trick = RECIPIENT_TRICKS[refusal.problem];
  if (trick) return reject('rcpt', ADDRESS_RULE, trick, replyFor(trick), detail(refusal));
  return reject('rcpt', ADDRESS_RULE, 'rcpt.bad_address', replyFor('rcpt.bad_address'), detail(refusal));
}

export function senderRefusal(refusal: AddressRefusal): Decision {
  if (refusal.problem === 'not_nfc') return reject('mail', ADDRESS_RULE, 'mail.utf8_not_nfc', replyFor('mail.utf8_not_nfc'), detail(refusal));
  return reject('mail', ADDRESS_RULE, 'mail.bad_address', replyFor('mail.bad_address'), detail(refusal));
}

export const SMTPUTF8_RULE = 'smtputf8';

/**
 * RFC 6531 3.4: a mailbox written with non-ASCII characters needs a
 * transaction that declared SMTPUTF8 on MAIL FROM; 553 5.6.7 otherwise.
 * Asked after the relay decision for recipients, so every routing trick and
 * foreign spelling is still judged (and refused) as such first.
 */
export function undeclaredUtf8(stage: 'mail' | 'rcpt', mailbox: { readonly utf8?: true }, smtputf8: boolean | undefined): Decision | undefined {
  if (!mailbox.utf8 || smtputf8 === true) return undefined;
  const reason = stage === 'mail' ? 'mail.utf8_undeclared' : 'rcpt.utf8_undeclared';
  return reject(stage, SMTPUTF8_RULE, reason, replyFor(reason), { problem: 'utf8_undeclared' });
}
