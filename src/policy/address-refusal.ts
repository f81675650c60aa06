// PURE. Turns an address refusal into the Decision the client sees. Every
// refusal is permanent (5xx): a 4xx would make a relay tester's client retry
// the trick forever. Syntax gets 553 5.1.3 for recipients (RFC 3463 "bad
// destination mailbox address syntax") and 553 5.1.7 for senders ("bad
// sender's mailbox address syntax"); a routing trick on a recipient gets
// 550 5.7.1 (delivery not authorised), the class Postfix uses for relay refusals.
// The reply never echoes the refused text: it may carry anything.
import { reject, type Decision, type ReasonCode, type Reply } from './decision.ts';
import type { AddressProblem, AddressRefusal } from './address.ts';

export const ADDRESS_RULE = 'strict-address';

const RECIPIENT_TRICKS: Partial<Record<AddressProblem, { reason: ReasonCode; text: string }>> = {
  source_route: { reason: 'rcpt.source_route', text: 'Source routes are not accepted' },
  multiple_at: { reason: 'rcpt.multiple_at', text: 'Address routing is not accepted' },
  quoted_route: { reason: 'rcpt.quoted_route', text: 'Address routing is not accepted' },
  percent_hack: { reason: 'rcpt.percent_hack', text: 'Address routing (%) is not accepted' },
  bang_path: { reason: 'rcpt.bang_path', text: 'Address routing (!) is not accepted' },
  literal_not_ours: { reason: 'rcpt.address_literal', text: 'Address literal is not one of ours' },
};

function detail(refusal: AddressRefusal): Record<string, string> {
  return { problem: refusal.problem, message: refusal.message };
}

export function recipientRefusal(refusal: AddressRefusal): Decision {
  const trick = RECIPIENT_TRICKS[refusal.problem];
  if (trick) {
    const reply: Reply = { code: 550, enhanced: '5.7.1', text: trick.text };
    return reject('rcpt', ADDRESS_RULE, trick.reason, reply, detail(refusal));
  }
  const reply: Reply = { code: 553, enhanced: '5.1.3', text: 'Bad recipient address syntax' };
  return reject('rcpt', ADDRESS_RULE, 'rcpt.bad_address', reply, detail(refusal));
}

export function senderRefusal(refusal: AddressRefusal): Decision {
  const reply: Reply = { code: 553, enhanced: '5.1.7', text: 'Bad sender address syntax' };
  return reject('mail', ADDRESS_RULE, 'mail.bad_address', reply, detail(refusal));
}
