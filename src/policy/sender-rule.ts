// PURE. May this authenticated user use this MAIL FROM address?
// (Postfix's reject_sender_login_mismatch.) users.toml grants each user a list
// of sender patterns (config/sender-patterns.ts), compiled once when the file
// is loaded.
// An unauthenticated session is not this rule's business, and an owned address
// is no reason to accept the mail: both answer dunno. Only a mismatch decides.
import { replyFor } from './replies.ts';
import { dunno, reject, type Decision } from './decision.ts';
import type { SenderMatcher } from '../config/sender-patterns.ts';

export const SENDER_RULE = 'sender-login';

/** What the rule needs to know about the authenticated user. */
export interface SenderOwner {
  readonly name: string;
  readonly senderMatcher: SenderMatcher;
}

/**
 * The sender rule at MAIL FROM. `mailFrom` is the envelope address without
 * angle brackets ("" for the null sender); `user` is undefined when the
 * session did not authenticate.
 */
export function checkSender(user: SenderOwner | undefined, mailFrom: string): Decision {
  if (!user) return dunno('mail', SENDER_RULE);
  // A match is not a reason to accept the mail (size, quota and relay checks
  // still apply), so it is dunno, never permit: the next rule decides.
  if (user.senderMatcher.matches(mailFrom)) return dunno('mail', SENDER_RULE);
  // The null sender has its own words, so the user is told what to ask for ("<>" in senders).
  return reject(
    'mail',
    SENDER_RULE,
    'mail.sender_not_owned',
    replyFor(mailFrom === '' ? 'mail.sender_not_owned:null' : 'mail.sender_not_owned', user.name),
    { user: user.name, ...(mailFrom === '' ? { nullSender: true } : {}) },
  );
}
