// MAIL: an authenticated user may only use the sender addresses users.toml
// grants: exact addresses ("alice@example.com") or a whole domain
// ("*@example.com"). Comparison is on the normalised address, local part
// unquoted and case-folded (no real mailbox differs from another by case
// alone, and refusing "Alice@" for "alice@" helps nobody). A pattern of any
// other shape never matches: an unreadable grant grants nothing.
// The null sender is allowed: it impersonates no one (clients send
// auto-replies and receipts with it).
import { dunno, reject, type Decision } from '../decision.ts';
import type { Rule } from '../rule.ts';
import type { MailContext } from '../context.ts';
import type { Mailbox } from '../address.ts';
import { parseDomain } from '../address-domain.ts';

const RULE = 'sender-ownership';

export function senderGranted(sender: Mailbox, patterns: readonly string[]): boolean {
  const local = sender.localText.toLowerCase();
  for (const pattern of patterns) {
    const at = pattern.lastIndexOf('@');
    if (at <= 0) continue;
    const domain = parseDomain(pattern.slice(at + 1));
    if (!domain.ok || domain.domain !== sender.domain) continue;
    const patternLocal = pattern.slice(0, at);
    if (patternLocal === '*' || patternLocal.toLowerCase() === local) return true;
  }
  return false;
}

export const senderOwnershipRule: Rule<MailContext> = {
  name: RULE,
  evaluate(ctx, snapshot): Decision {
    if (ctx.user === undefined || ctx.sender.kind === 'null') return dunno('mail', RULE);
    const record = snapshot.users.get(ctx.user);
    if (record && senderGranted(ctx.sender, record.senders)) return dunno('mail', RULE);
    return reject(
      'mail',
      RULE,
      'mail.sender_not_owned',
      { code: 553, enhanced: '5.7.1', text: `<${ctx.sender.address}>: Sender address rejected: not owned by authenticated user` },
      { user: ctx.user, known: record !== undefined },
    );
  },
};
